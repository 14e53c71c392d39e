// The page's inference, off the main thread: onnxruntime-web (WebAssembly, one thread) runs YuNet
// and FERNet on each frame the page sends, the face tracker smooths the result, and the frame
// goes back with its faces. Messages in:
//   {type: 'load', assets}: assets = {vendor, version, yunet, models: {name: {folder, version, processor}}, model_files,
//     detector: {webcam, photo}, tracker: {min_iou, lost_frames}} (fer_model.web.browser_assets; versions are content hashes)
//   {type: 'frame', id, bitmap, model, prior, keep, mirror}: a live camera frame (tracked, one view per face)
//   {type: 'photo', id, bitmap, model, prior}: a photo (every test-time view, numbered 1, 2, ...)
// and out: {type: 'ready'}, {type: 'model', name, labels, priors, prior}, {type: 'result', id, bitmap,
// faces, ms}, {type: 'skipped', id} (a frame superseded by a newer one) or {type: 'error', id, message}.
import {Recognizer, fetchModel} from './inference.js';
import {FaceTracker} from './tracking.js';

const CACHE = 'fer_model-assets-v1';  // asset URLs carry their content's hash, so entries never go stale
let ort = null, assets = null, yunet = null, tracker = null, trackedModel = null;
const recognizers = new Map();  // model name -> Promise<Recognizer> (its networks, loaded once)

/** A fetch answered from the Cache Storage where the same URL was fetched before (a second visit
 * downloads no model or runtime file); plain fetch where the browser has no Cache Storage. */
async function cachedFetch(url) {
  const cache = self.caches ? await self.caches.open(CACHE).catch(() => null) : null;
  const hit = cache && await cache.match(url);
  if (hit) return hit;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${new URL(url).pathname.split('/').pop()}: HTTP ${response.status}`);
  if (cache) await cache.put(url, response.clone()).catch(() => {});
  return response;
}

/** Remove from the Cache Storage every asset this page no longer names (the URLs carry content
 * hashes, so each new release or model leaves its predecessors behind otherwise). */
async function pruneCache(names) {
  const cache = self.caches ? await self.caches.open(CACHE).catch(() => null) : null;
  if (!cache) return;
  const keep = new Set(names);
  for (const request of await cache.keys()) {
    if (!keep.has(request.url)) await cache.delete(request);
  }
}

async function moduleUrl(url) {
  const text = await (await cachedFetch(url)).text();
  return URL.createObjectURL(new Blob([text], {type: 'text/javascript'}));
}

async function load(given) {
  assets = given;
  const vendor = name => new URL(`${name}?v=${assets.version}`, new URL(assets.vendor, self.location.href)).href;
  ort = await import(await moduleUrl(vendor('ort.wasm.min.mjs')));
  ort.env.wasm.numThreads = 1;  // threads need a cross-origin isolated page
  ort.env.wasm.wasmPaths = {mjs: await moduleUrl(vendor('ort-wasm-simd-threaded.mjs'))};
  ort.env.wasm.wasmBinary = await (await cachedFetch(vendor('ort-wasm-simd-threaded.wasm'))).arrayBuffer();
  const yunetUrl = new URL(assets.yunet, self.location.href).href;
  yunet = new Uint8Array(await (await cachedFetch(yunetUrl)).arrayBuffer());
  const modelFiles = Object.values(assets.models).flatMap(files => assets.model_files.map(
    name => new URL(`${name}?v=${files.version}`, new URL(files.folder, self.location.href)).href));
  await pruneCache([...['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'].map(vendor),
                    yunetUrl, ...modelFiles]);
}

/** The model's networks, loaded once per model (webcam frames and photos share them), under the
 * detector settings of `kind`. */
function recognizer(model, kind) {
  if (!recognizers.has(model)) {
    const files = assets.models[model];
    if (!files) return Promise.reject(new Error(`unknown model ${model}`));
    const created = fetchModel(new URL(files.folder, self.location.href), cachedFetch, files.version, files.processor)
      .then(files => Recognizer.create(ort, files, yunet, assets.detector[kind]));
    recognizers.set(model, created);
    created.catch(() => recognizers.delete(model));
  }
  return recognizers.get(model).then(loaded => loaded.withSettings(assets.detector[kind]));
}

let canvas = null, context = null;  // one canvas for every frame, resized when the frame size changes

function pixels(bitmap, mirror) {
  if (!canvas) {
    canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    context = canvas.getContext('2d', {willReadFrequently: true});
  }
  if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  // the selfie view the page shows, or the photo as it is
  context.setTransform(mirror ? -1 : 1, 0, 0, 1, mirror ? bitmap.width : 0, 0);
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height).data;
}

function plain(face) {
  return {number: face.number, box: face.box, faceFound: face.faceFound, probabilities: face.probabilities,
          label: face.label};
}

// Messages are handled one at a time, in order. A camera frame that is still waiting when a newer
// one arrives is dropped (answered {type: 'skipped'}): the page keeps two frames here, so the next
// is ready the moment the last is done, and never reads a stale one.
let waitingFrame = null;
let chain = Promise.resolve();
self.onmessage = ({data}) => {
  if (data.type !== 'frame') {
    chain = chain.then(() => handle(data));
    return;
  }
  if (waitingFrame) {
    waitingFrame.bitmap.close();
    self.postMessage({type: 'skipped', id: waitingFrame.id});
  }
  waitingFrame = data;
  chain = chain.then(() => {
    const next = waitingFrame;
    waitingFrame = null;
    return next ? handle(next) : null;
  });
};

async function handle(data) {
  const started = performance.now();
  try {
    if (data.type === 'load') {
      await load(data.assets);
      self.postMessage({type: 'ready'});
      return;
    }
    const live = data.type === 'frame';
    const model = await recognizer(data.model, live ? 'webcam' : 'photo');
    if (data.type === 'describe') {
      self.postMessage({type: 'model', id: data.id, name: data.model, labels: model.labels,
                        priors: model.priorNames(), prior: model.processor.prior});
      return;
    }
    const {bitmap} = data;
    const faces = await model.predict(pixels(bitmap, data.mirror), bitmap.width, bitmap.height,
                                      {prior: data.prior || model.processor.prior, singleView: live});
    let shown;
    if (live) {
      if (trackedModel !== data.model) {
        const {min_iou: minIou, lost_frames: lostFrames} = assets.tracker;
        tracker = new FaceTracker(0, minIou, lostFrames);
        trackedModel = data.model;
      }
      shown = tracker.update(faces, data.keep);  // another model's averages would blend two models
    } else {
      shown = faces.map((face, i) => ({...face, number: face.faceFound ? i + 1 : null}));
    }
    self.postMessage({type: 'result', id: data.id, bitmap, faces: shown.map(plain), labels: model.labels,
                      ms: performance.now() - started}, [bitmap]);
  } catch (error) {
    if (data.bitmap) data.bitmap.close();
    self.postMessage({type: 'error', id: data.id, message: String(error && error.message || error)});
  }
}

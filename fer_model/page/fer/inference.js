// The two networks of the pipeline on onnxruntime-web: YuNet finds the faces, FERNet reads them.
// The same calls run in the page's Web Worker (worker.js) and under Node's test runner.
import {byArea, clip, decodeYunet, mergeTiles, moveBox, searchSize, searchTiles, toBoxes, yunetInput} from './detect.js';
import {cropPixels, padReplicate, pyRound, resizeArea, toGray, toRgb} from './preprocess.js';
import {argmax, faceViews, normalize, priorNames, probabilities, wholeViews} from './processor.js';

/** The files a model needs, fetched from a folder URL: config.json, model.onnx and the
 * model.safetensors its tensors point into; and the processor's settings: `resolved` where given
 * (fer_model.web.browser_assets: FaceProcessor.to_dict() of the loaded folder, every default filled
 * in by Python), else the folder's preprocessor_config.json. `version` (the files' content hash)
 * goes into each URL, so a cache keyed by URL never serves another model's files. */
export async function fetchModel(base, fetcher = fetch, version = '', resolved = null) {
  const get = async name => {
    const response = await fetcher(new URL(version ? `${name}?v=${version}` : name, base).href);
    if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
    return response;
  };
  const [config, processor, graph, weights] = await Promise.all([
    get('config.json').then(r => r.json()), resolved || get('preprocessor_config.json').then(r => r.json()),
    get('model.onnx').then(r => r.arrayBuffer()), get('model.safetensors').then(r => r.arrayBuffer())]);
  return {config, processor, graph: new Uint8Array(graph), weights: new Uint8Array(weights)};
}

export class Recognizer {
  /** `model`: fetchModel's files; `detector`: YuNet's dynamic graph (bytes); `settings`: the
   * detector settings Python hands over (fer_model.web.detector_settings). */
  static async create(ort, model, detector, settings) {
    const options = {executionProviders: ['wasm'], graphOptimizationLevel: 'all'};
    // One after the other: onnxruntime-web unmounts every session's external data when any
    // session finishes loading, so a detector loaded alongside would pull the weights away.
    const classifier = await ort.InferenceSession.create(
      model.graph, {...options, externalData: [{path: 'model.safetensors', data: model.weights}]});
    const finder = await ort.InferenceSession.create(detector, options);
    return new Recognizer(ort, classifier, finder, model.config, model.processor, settings);
  }

  constructor(ort, classifier, finder, config, processor, settings) {
    this.ort = ort;
    this.classifier = classifier;
    this.finder = finder;
    this.config = config;
    this.processor = processor;
    this.settings = settings;
    this.labels = config.labels;
    this.size = config.image_size;
  }

  priorNames() { return priorNames(this.processor); }

  /** The same networks under other detector settings (the webcam's or a photo's): no second load. */
  withSettings(settings) {
    return new Recognizer(this.ort, this.classifier, this.finder, this.config, this.processor, settings);
  }

  /** Faces of an RGB image (bytes, `channels` per pixel), largest first, in its pixels, as
   * YuNetFaceDetector.detect finds them with these settings. */
  async detect(pixels, width, height, channels = 4) {
    const {max_side: maxSide, retry_pad: retryPad} = this.settings;
    const boxes = await this.search(pixels, width, height, channels);
    if (boxes.length || !retryPad) return boxes;
    const rgb = channels === 3 ? pixels : toRgb(pixels, width, height, channels);
    const pad = pyRound(retryPad * Math.max(width, height));
    const found = await this.search(padReplicate(rgb, width, height, pad), width + 2 * pad, height + 2 * pad, 3);
    return byArea(found.map(box => clip(box, pad, width, height)).filter(Boolean));
  }

  /** Faces of an image in its pixels: searched whole, or in tiles where it is a strip. */
  async search(pixels, width, height, channels = 3) {
    const tiles = searchTiles(width, height, this.settings);
    if (tiles === null) return this.searchWhole(pixels, width, height, channels);
    const boxes = [];
    for (const tile of tiles) {
      const found = await this.searchWhole(cropPixels(pixels, width, channels, tile), tile[2], tile[3], 3);
      boxes.push(...found.map(box => moveBox(box, tile[0], tile[1])));
    }
    return byArea(mergeTiles(boxes, this.settings.tile_iou));
  }

  async searchWhole(pixels, width, height, channels = 3) {
    const [searchWidth, searchHeight] = searchSize(width, height, this.settings.max_side);
    const same = searchWidth === width && searchHeight === height;
    const small = same ? (channels === 3 ? pixels : toRgb(pixels, width, height, channels))
      : resizeArea(pixels, width, height, searchWidth, searchHeight, channels);
    const input = yunetInput(small, searchWidth, searchHeight);
    const outputs = await this.finder.run({input: new this.ort.Tensor('float32', input.data, input.dims)});
    const arrays = Object.fromEntries(Object.entries(outputs).map(([name, tensor]) => [name, tensor.data]));
    const faces = decodeYunet(arrays, input.padWidth, input.padHeight, this.settings);
    return toBoxes(faces, width, height, searchWidth, searchHeight);
  }

  /** What EmotionRecognizer.predict gives for an image: per face {box, landmarks, score,
   * probabilities (labels order), label (index), faceFound}, largest first, or the whole image as
   * one face when none is found. `singleView`: one plain crop per face (the live webcam). */
  async predict(pixels, width, height, {prior = this.processor.prior, singleView = false, channels = 4} = {}) {
    const gray = toGray(pixels, width, height, channels);
    const crop = Math.max(width, height) <= this.processor.crop_side;
    const boxes = crop ? [] : await this.detect(pixels, width, height, channels);
    return this.classify(gray, width, height, boxes, {prior, singleView});
  }

  /** The predictions of faces at `boxes` of a grey image (the whole image when there are none). */
  async classify(gray, width, height, boxes, {prior = this.processor.prior, singleView = false} = {}) {
    const processor = singleView ? {...this.processor, tta_scales: [1.0], tta_flip: false} : this.processor;
    const faceFound = boxes.length > 0;
    const views = faceFound ? boxes.flatMap(box => faceViews(gray, width, height, box, processor, this.size))
      : wholeViews(gray, width, height, processor, this.size);
    const perFace = processor.tta_scales.length * (processor.tta_flip ? 2 : 1);
    const logits = await this.logits(views);
    const rows = probabilities(logits, this.labels.length, perFace, processor, prior);
    const shown = faceFound ? boxes : [{x: 0, y: 0, w: width, h: height, score: null, landmarks: null}];
    const classes = this.labels.length;
    return shown.map((box, i) => ({box, probabilities: rows[i], label: argmax(rows[i]), faceFound,
                                    views: views.slice(i * perFace, (i + 1) * perFace),
                                    logits: logits.slice(i * perFace * classes, (i + 1) * perFace * classes)}));
  }

  async logits(views) {
    const size = this.size;
    const input = new this.ort.Tensor('float32', normalize(views, this.processor, size), [views.length, 1, size, size]);
    const {logits} = await this.classifier.run({faces: input});
    return logits.data;
  }
}


// The Webcam tab of app.py, running in the page (gr.HTML's js_on_load: `element` is the tab's HTML,
// `server.live_frame` calls Demo.live_frame in one HTTP request).
//
// In the browser (the default): each new camera frame goes to a Web Worker (page/fer/worker.js)
// that finds and reads the faces with onnxruntime-web, and comes back with them to be drawn here:
// no request to the server per frame. The model files and the runtime are fetched once, from the
// app itself (data-browser names them), and kept in the browser's cache.
//
// On the server: where WebAssembly or an asset fails, and while Grad-CAM is on (it needs the
// network's gradients), each frame is drawn (mirrored, as a selfie view is) onto a canvas
// `data-width` pixels wide and sent as a JPEG; the annotated frame and bars that come back replace
// the shown ones. At most `data-in-flight` frames are on their way at once; an answer older than
// the one shown is dropped. The line under the Start button says which path runs.
const root = element.querySelector('.webcam');
const video = root.querySelector('#camera video');
const shown = root.querySelector('#live img');
const bars = root.querySelector('#live-bars img');
const liveCanvas = root.querySelector('#live canvas');
const barsCanvas = root.querySelector('#live-bars canvas');
const button = root.querySelector('button.start');
const status = root.querySelector('.status');
const where = root.querySelector('.where');
const keep = root.querySelector('input.keep');
const keepValue = root.querySelector('.keep-value');
const saliency = root.querySelector('input.saliency');
const prior = root.querySelector('select.prior');
const model = root.querySelector('select.model');
const width = Number(root.dataset.width);
const limit = Number(root.dataset.limit);
const maxInFlight = Number(root.dataset.inFlight);
const browser = JSON.parse(root.dataset.browser || 'null');  // fer_model.web.browser_assets; null: server only
const canvas = document.createElement('canvas');
const context = canvas.getContext('2d');
const client = Math.random().toString(36).slice(2) + Date.now().toString(36);
let camera = null;
let running = false;
let runs = 0;  // each Start begins a new run; a loop left from an earlier run ends itself
let inFlight = 0;
let sent = 0;
let newest = 0;  // the number of the frame shown
let quietUntil = 0;  // after an error, wait a second before sending again
let engine = null;  // the in-browser pipeline (page/fer/client.js) once it has loaded
let draw = null;  // page/fer/draw.js
let engineFailure = browser ? null : 'this app serves no in-browser pipeline';
let engineLoading = null;
let cameraLoop = null;  // page/fer/camera.js: the camera loop shared with the static page
let pacer = null;  // its FramePacer: when a frame goes to the worker

keep.addEventListener('input', () => { keepValue.textContent = Number(keep.value).toFixed(1); });

function say(text) { status.textContent = text; }

function assetUrl(path) {
  // Relative to the app's root, so the page works behind a proxy or a Space's path prefix.
  const base = (window.gradio_config && window.gradio_config.root) || document.baseURI;
  return new URL(path, base.endsWith('/') ? base : base + '/').href;
}

async function loadEngine() {
  const [client, drawing, loop] = await Promise.all([import(assetUrl(browser.client)), import(assetUrl(browser.draw)),
                                                     import(assetUrl(browser.camera))]);
  cameraLoop = loop;
  pacer = new loop.FramePacer();
  engine = await client.Engine.start(browser, assetUrl);
  engine.onfailure = reason => { engineFailure = reason; showWhere(); };  // the server path takes over
  draw = drawing;
  await describe();
}

async function describe() {
  // The chosen model's priors (each model carries its own), keeping the chosen one where offered.
  if (!engine.models.includes(model.value)) return;
  const answer = await engine.describe(model.value);
  const chosen = prior.value;
  prior.innerHTML = answer.priors.map(name => `<option value="${name}">${browser.priorLabels[name] || name}</option>`).join('');
  prior.value = answer.priors.includes(chosen) ? chosen : answer.priors[0];
}

function inBrowser() {
  return engine && !engineFailure && !saliency.checked && engine.models.includes(model.value);
}

function showWhere() {
  const local = inBrowser();
  root.classList.toggle('in-browser', Boolean(local));
  if (local) where.textContent = 'Running in your browser: frames stay on this device.';
  else if (saliency.checked) where.textContent = 'Running on the server: Grad-CAM needs the network on the server.';
  else if (engineFailure) where.textContent = `Running on the server: the in-browser pipeline could not start (${engineFailure}).`;
  else if (engine) where.textContent = 'Running on the server: this model cannot run in your browser (no in-browser files, or settings such as eye levelling the page lacks).';
  else where.textContent = '';
}

function nextCameraFrame() {
  if (cameraLoop) return cameraLoop.nextCameraFrame(video);
  return new Promise(resolve => setTimeout(resolve, 33));  // the server path alone: no loop module loaded
}

function stop(message) {
  running = false;
  if (camera) camera.getTracks().forEach(track => track.stop());
  camera = null;
  button.textContent = 'Start the camera';
  say(message || '');
}

async function start() {
  try {
    camera = await navigator.mediaDevices.getUserMedia(
      {video: {width: {ideal: width}, height: {ideal: Math.round(width * 3 / 4)}}, audio: false});
  } catch (error) {
    say('Could not open the camera: ' + error.message + '. Allow camera access for this page and try again.');
    return;
  }
  video.srcObject = camera;
  await video.play();
  running = true;
  const run = ++runs;
  button.textContent = 'Stop';
  say('');
  if (!engine && !engineFailure) {
    where.textContent = 'Loading the model into your browser...';
    engineLoading = engineLoading || loadEngine().catch(error => { engineFailure = error.message; });
    await engineLoading;
  }
  showWhere();
  const started = performance.now();
  while (running && run === runs) {
    if (performance.now() - started > limit * 1000) {
      stop('The stream stopped after ' + limit + ' seconds; press Start to go on.');
      break;
    }
    await nextCameraFrame();
    if (!running || run !== runs || !video.videoWidth) continue;
    if (inBrowser()) browserFrame(run);
    else serverFrame();
  }
}

async function browserFrame(run) {
  const options = {width, model: model.value, prior: prior.value, keep: Number(keep.value)};
  try {
    await pacer.offer(engine, video, options, answer => {
      if (!(running && run === runs && inBrowser())) return false;
      draw.drawFrame(liveCanvas, answer.bitmap, answer.faces, answer.labels, browser.colours, true);
      draw.drawBars(barsCanvas, answer.faces, answer.labels, browser.colours, browser.maxFaces);
      liveCanvas.classList.add('drawn');
      barsCanvas.classList.add('drawn');
      if (status.textContent) say('');
      return true;
    });
  } catch (error) {
    engineFailure = error.message;  // from now on the server path, and the line says why
    showWhere();
  }
}

function serverFrame() {
  if (inFlight >= maxInFlight || performance.now() < quietUntil) return;
  canvas.width = Math.min(width, video.videoWidth);
  canvas.height = Math.round(canvas.width * video.videoHeight / video.videoWidth);
  context.setTransform(-1, 0, 0, 1, canvas.width, 0);
  context.drawImage(video, 0, 0, canvas.width, canvas.height);
  const number = ++sent;
  inFlight++;
  server.live_frame(
    {image: canvas.toDataURL('image/jpeg', 0.85), client, keep: Number(keep.value), saliency: saliency.checked,
     prior: prior ? prior.value : null, model: model ? model.value : null}
  ).then(answer => show(number, answer), () => show(number, null));
}

function show(number, answer) {
  inFlight--;
  if (!running || number < newest) return;
  if (!answer || answer.error) {
    say(answer ? answer.error : 'The server did not answer; trying again.');
    quietUntil = performance.now() + 1000;
    return;
  }
  newest = number;
  shown.src = answer.frame;
  bars.src = answer.bars;
  if (status.textContent) say('');
}

saliency.addEventListener('change', showWhere);
model.addEventListener('change', () => {
  showWhere();
  if (engine && !engineFailure) describe().catch(error => { engineFailure = error.message; showWhere(); });
});
button.addEventListener('click', () => { if (running) stop(); else start(); });

// The static page of `fer-model export-web` (standalone.html): settings.json names the runtime, the
// detector and the models (fer_model.web.browser_assets); the worker does the rest.
import {Engine} from './fer/client.js';
import {FramePacer, nextCameraFrame} from './fer/camera.js';
import {drawBars, drawFrame} from './fer/draw.js';

const $ = selector => document.querySelector(selector);
const video = $('video'), button = $('button.start'), keep = $('input.keep'), prior = $('select.prior');
const model = $('select.model'), where = $('.where'), status = $('.status');
const liveCanvas = $('.live-canvas'), barsCanvas = $('.bars-canvas'), drop = $('.drop'), photo = $('input.photo');
let engine = null, settings = null, camera = null, running = false, runs = 0;
const pacer = new FramePacer();  // the same camera loop as the app's Webcam tab (fer/camera.js)

const url = path => new URL(path, document.baseURI).href;
const say = text => { status.textContent = text; };

function show(answer, mirror) {
  drawFrame(liveCanvas, answer.bitmap, answer.faces, answer.labels, settings.colours, mirror);
  drawBars(barsCanvas, answer.faces, answer.labels, settings.colours, settings.maxFaces);
  liveCanvas.classList.add('drawn');
  barsCanvas.classList.add('drawn');
}

async function describe() {
  const answer = await engine.describe(model.value);
  const chosen = prior.value || settings.webcamPrior;
  prior.innerHTML = answer.priors.map(name => `<option value="${name}">${settings.priorLabels[name] || name}</option>`).join('');
  prior.value = answer.priors.includes(chosen) ? chosen : answer.priors[0];
}

async function start() {
  try {
    camera = await navigator.mediaDevices.getUserMedia({video: {width: {ideal: settings.width}}, audio: false});
  } catch (error) {
    say(`Could not open the camera: ${error.message}. Allow camera access for this page and try again.`);
    return;
  }
  video.srcObject = camera;
  await video.play();
  running = true;
  const run = ++runs;
  button.textContent = 'Stop';
  while (running && run === runs) {
    await nextCameraFrame(video);
    if (!running || run !== runs || !video.videoWidth) continue;
    const options = {width: settings.width, model: model.value, prior: prior.value, keep: Number(keep.value)};
    pacer.offer(engine, video, options, answer => {
      if (!(running && run === runs)) return false;
      show(answer, true);
      say('');
      return true;
    }).catch(error => say(`This frame could not be read: ${error.message}`));
  }
}

function stop() {
  running = false;
  if (camera) camera.getTracks().forEach(track => track.stop());
  camera = null;
  button.textContent = 'Start the camera';
}

async function readPhoto(file) {
  if (!file) return;
  stop();
  try {
    const answer = await engine.photo(file, {model: model.value, prior: prior.value});
    show(answer, false);
    answer.bitmap.close();
    const found = answer.faces.filter(face => face.faceFound).length;
    say(found ? `${found} face${found > 1 ? 's' : ''} found.` : 'No face found: the whole image was read as one face.');
  } catch (error) {
    say(`Could not read ${file.name}: ${error.message}`);
  }
}

async function main() {
  settings = await (await fetch(url('settings.json'))).json();
  model.innerHTML = Object.keys(settings.assets.models).map(name =>
    `<option value="${name}" title="${settings.descriptions[name] || ''}">${name}</option>`).join('');
  keep.max = settings.smoothingMax;  // the slider as Python sets it (fer_model.web)
  keep.value = settings.smoothing;
  $('.keep-value').textContent = Number(keep.value).toFixed(1);
  engine = await Engine.start(settings, url);
  engine.onfailure = reason => {  // a static page has no server to fall back to: say so, and stop
    stop();
    button.disabled = true;
    where.textContent = `The in-browser pipeline stopped: ${reason}. Reload the page to start it again.`;
  };
  await describe();
  where.textContent = 'Running in your browser: frames and photos stay on this device.';
  button.disabled = false;
}

keep.addEventListener('input', () => { $('.keep-value').textContent = Number(keep.value).toFixed(1); });
model.addEventListener('change', () => describe().catch(error => say(error.message)));
button.addEventListener('click', () => (running ? stop() : start()));
photo.addEventListener('change', () => readPhoto(photo.files[0]));
drop.addEventListener('dragover', event => { event.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', event => { event.preventDefault(); drop.classList.remove('over'); readPhoto(event.dataTransfer.files[0]); });
main().catch(error => { where.textContent = `The in-browser pipeline could not start: ${error.message}`; });

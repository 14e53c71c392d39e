// The Webcam tab of app.py, running in the page (gr.HTML's js_on_load: `element` is the tab's HTML,
// `server.live_frame` calls Demo.live_frame in one HTTP request).
//
// Each new camera frame is drawn (mirrored, as a selfie view is) onto a canvas `data-width` pixels
// wide, sent as a JPEG, and the annotated frame and bars that come back replace the shown ones. At
// most `data-in-flight` frames are on their way at once (the browser prepares the next frame while
// the server works on the last), so a slow server gets fewer frames rather than a queue; an answer
// older than the one shown is dropped.
const root = element.querySelector('.webcam');
const video = root.querySelector('#camera video');
const shown = root.querySelector('#live img');
const bars = root.querySelector('#live-bars img');
const button = root.querySelector('button.start');
const status = root.querySelector('.status');
const keep = root.querySelector('input.keep');
const keepValue = root.querySelector('.keep-value');
const saliency = root.querySelector('input.saliency');
const prior = root.querySelector('select.prior');
const model = root.querySelector('select.model');
const width = Number(root.dataset.width);
const limit = Number(root.dataset.limit);
const maxInFlight = Number(root.dataset.inFlight);
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

keep.addEventListener('input', () => { keepValue.textContent = Number(keep.value).toFixed(1); });

function say(text) { status.textContent = text; }

function nextCameraFrame() {
  // Resolves when the camera shows a frame not sent yet (or after 100 ms where the browser
  // cannot tell), so the same picture is never sent twice.
  return new Promise(resolve => {
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => resolve());
    else setTimeout(resolve, 33);
    setTimeout(resolve, 100);
  });
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
  const started = performance.now();
  while (running && run === runs) {
    if (performance.now() - started > limit * 1000) {
      stop('The stream stopped after ' + limit + ' seconds; press Start to go on.');
      break;
    }
    await nextCameraFrame();
    if (!running || run !== runs || !video.videoWidth || inFlight >= maxInFlight || performance.now() < quietUntil) continue;
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

button.addEventListener('click', () => { if (running) stop(); else start(); });

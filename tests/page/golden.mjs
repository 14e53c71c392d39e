// The page's pipeline against the golden fixtures Python writes (tests/golden.py): the same check
// under Node's test runner (pipeline.test.mjs) and in Chromium (tests/test_web.py).
//
// Tolerances: boxes within 1 pixel, crop pixels within 1 grey level, probabilities within 1e-3,
// the same top label (for at least 99% of faces: a face whose two best labels are within a
// rounding error of each other may go either way).
import {Recognizer} from '../../fer_model/page/fer/inference.js';
import {toGray} from '../../fer_model/page/fer/preprocess.js';
import {argmax, probabilities} from '../../fer_model/page/fer/processor.js';
import {FaceTracker} from '../../fer_model/page/fer/tracking.js';

export const TOLERANCE = {box: 1, pixel: 1, probability: 1e-3, labels: 0.99};

function decode64(text) {
  if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(text, 'base64'));
  return Uint8Array.from(atob(text), c => c.charCodeAt(0));
}

function boxDistance(a, b) {
  return Math.max(Math.abs(a.x - b[0]), Math.abs(a.y - b[1]), Math.abs(a.w - b[2]), Math.abs(a.h - b[3]));
}

/** Record in report[key] the largest difference between Python's values and the page's; a page
 * array of another length, or a value that is not a finite number, is a problem of its own (a
 * bare Math.max would let NaN and missing entries through: NaN > tolerance is false). */
export function compare(report, key, want, got, where) {
  if (!got || got.length !== want.length) {
    report.problems.push(`${where}: ${got ? got.length : 'no'} ${key} values, Python ${want.length}`);
    return;
  }
  for (let i = 0; i < want.length; i++) {
    const difference = Math.abs(want[i] - got[i]);
    if (!Number.isFinite(difference)) {
      report.problems.push(`${where}: ${key} value ${i} is ${got[i]}, Python ${want[i]}`);
      return;
    }
    report[key] = Math.max(report[key], difference);
  }
}

const corners = box => [box.x, box.y, box.w, box.h];

/** Compare every photo and the webcam sequence; `loadModel(name)` gives fetchModel's files of a
 * shipped model, `read(file)` a fixture's bytes. Returns a report with the worst differences. */
export async function checkGolden(ort, golden, loadModel, yunet, read) {
  const report = {faces: 0, sameLabel: 0, box: 0, pixel: 0, probability: 0, problems: [], webcamFaces: 0};
  const recognizers = {};
  for (const name of Object.keys(golden.models)) {
    recognizers[name] = await Recognizer.create(ort, await loadModel(name), yunet, golden.detector);
  }
  for (const photo of golden.photos) {
    const pixels = await read(`${photo.name}.rgb`);
    for (const [name, expected] of Object.entries(photo.models)) {
      const recognizer = recognizers[name];
      const where = `${photo.name} (${name})`;
      const priors = Object.keys(expected.faces[0].probabilities);
      const found = await recognizer.predict(pixels, photo.width, photo.height, {channels: 3});
      const views = recognizer.processor.tta_scales.length * (recognizer.processor.tta_flip ? 2 : 1);
      const under = (face, prior) => probabilities(face.logits, recognizer.labels.length, views, recognizer.processor, prior)[0];
      if (found.length !== expected.faces.length || found[0].faceFound !== expected.face_found) {
        report.problems.push(`${where}: ${found.length} faces (found: ${found[0].faceFound}), Python ${expected.faces.length} (${expected.face_found})`);
        continue;
      }
      // Crops from Python's own boxes: the crop and resize alone.
      const gray = toGray(pixels, photo.width, photo.height, 3);
      const boxes = expected.face_found ? expected.faces.map(f => ({x: f.box[0], y: f.box[1], w: f.box[2], h: f.box[3],
                                                                   landmarks: f.landmarks, score: f.score})) : [];
      const crops = await recognizer.classify(gray, photo.width, photo.height, boxes);
      expected.faces.forEach((face, k) => {
        const want = decode64(face.views), got = crops[k].views.flatMap(v => Array.from(v));
        compare(report, 'pixel', want, got, `${where} face ${k} crop`);
      });
      // End to end: each Python face against the nearest box the page found.
      for (const face of expected.faces) {
        const k = found.map(f => boxDistance(f.box, face.box)).reduce((best, d, i, all) => d < all[best] ? i : best, 0);
        report.faces++;
        compare(report, 'box', face.box, corners(found[k].box), `${where} box`);
        let same = true;
        for (const prior of priors) {
          const got = under(found[k], prior), want = face.probabilities[prior];
          compare(report, 'probability', want, got, `${where} ${prior}`);
          if (argmax(got) !== argmax(want)) same = false;
        }
        if (same) report.sameLabel++;
        else report.problems.push(`${where}: another top label`);
      }
    }
  }
  await checkWebcam(ort, golden, loadModel, yunet, read, report);
  return report;
}

async function checkWebcam(ort, golden, loadModel, yunet, read, report) {
  const webcam = golden.webcam;
  const name = Object.keys(golden.models)[0];
  const recognizer = await Recognizer.create(ort, await loadModel(name), yunet, webcam.detector);
  const tracker = new FaceTracker(0, webcam.tracker.min_iou, webcam.tracker.lost_frames);
  for (const [k, frame] of webcam.frames.entries()) {
    const pixels = await read(frame.file);
    const faces = await recognizer.predict(pixels, webcam.width, webcam.height,
                                           {prior: webcam.prior, singleView: true, channels: 3});
    const tracked = tracker.update(faces, webcam.keep);
    if (tracked.length !== frame.faces.length) {
      report.problems.push(`webcam frame ${k}: ${tracked.length} faces, Python ${frame.faces.length}`);
      continue;
    }
    frame.faces.forEach((want, i) => {
      const got = tracked[i];
      report.webcamFaces++;
      if (got.number !== want.number) report.problems.push(`webcam frame ${k}: face number ${got.number}, Python ${want.number}`);
      compare(report, 'box', want.box, corners(got.box), `webcam frame ${k} box`);
      compare(report, 'probability', want.probabilities, got.probabilities, `webcam frame ${k}`);
      if (argmax(got.probabilities) !== argmax(want.probabilities)) report.problems.push(`webcam frame ${k}: another top label`);
    });
  }
}

/** The report's failures against TOLERANCE, as sentences (empty: all agree). */
export function failures(report) {
  const out = report.problems.filter(p => !p.endsWith('another top label'));
  if (report.faces === 0) out.push('no face was compared');
  if (report.box > TOLERANCE.box) out.push(`a box is ${report.box} px from Python's`);
  if (report.pixel > TOLERANCE.pixel) out.push(`a crop pixel is ${report.pixel} grey levels from Python's`);
  if (report.probability > TOLERANCE.probability) out.push(`a probability is ${report.probability} from Python's`);
  if (report.sameLabel < TOLERANCE.labels * report.faces) out.push(`the same top label for ${report.sameLabel} of ${report.faces} faces`);
  if (report.problems.some(p => p.startsWith('webcam') && p.endsWith('another top label'))) out.push('a webcam face has another top label');
  return out;
}

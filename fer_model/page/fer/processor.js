// The processor (fer_model/processing/processor.py): the views of a face, normalisation, and the
// reading of the logits (temperature, class prior, softmax, the average over views).
//
// Pure functions over typed arrays, in the same arithmetic as Python so that the page and Python
// agree face for face; every number comes from the caller (what Python hands over: fer_model.web).

import {cropFace, resizeBilinear} from './preprocess.js';

/** The views of one face (processor.face_views): a crop per test-time scale, each followed by its
 * mirror image when the processor flips, resized to the model's side. uint8 (V, size, size). */
export function faceViews(gray, width, height, box, processor, size) {
  const views = [];
  for (const scale of processor.tta_scales) {
    const [crop, side] = cropFace(gray, width, height, box, processor.crop_scale * scale, processor.crop_shift);
    const face = resizeBilinear(crop, side, side, size, size);
    views.push(face);
    if (processor.tta_flip) views.push(mirror(face, size));
  }
  return views;
}

/** The views of a whole image taken as one face crop (processor.crop_views). */
export function wholeViews(gray, width, height, processor, size) {
  const whole = {...processor, crop_scale: 1, crop_shift: [0, 0]};
  return faceViews(gray, width, height, {x: 0, y: 0, w: width, h: height}, whole, size);
}

function mirror(face, size) {
  const out = new Uint8Array(face.length);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[y * size + x] = face[y * size + size - 1 - x];
  return out;
}

/** uint8 views -> the network's float32 input (N, 1, size, size): (x / 255 - mean) / std. */
export function normalize(views, processor, size) {
  const data = new Float32Array(views.length * size * size);
  const mean = Math.fround(processor.image_mean[0]), std = Math.fround(processor.image_std[0]);
  views.forEach((view, v) => {
    for (let i = 0; i < view.length; i++) {
      data[v * view.length + i] = Math.fround(Math.fround(Math.fround(view[i] / 255) - mean) / std);
    }
  });
  return data;
}

export const PRIOR_NAMES = ['trained', 'balanced', 'everyday'];

/** The priors a model offers (processor.prior_names). */
export function priorNames(processor) {
  return PRIOR_NAMES.filter(name => name !== 'everyday' || processor.everyday_prior);
}

/** log(prior) - log(trained_prior) per class, or null for "trained" (processor.logit_adjustment). */
export function logitAdjustment(processor, prior, classes) {
  if (prior === 'trained') return null;
  let vector;
  if (prior === 'balanced') vector = new Array(classes).fill(1 / classes);
  else if (prior === 'everyday') {
    if (!processor.everyday_prior) throw new Error("this model has no everyday_prior: the 'everyday' prior is not available");
    vector = processor.everyday_prior;
  } else if (Array.isArray(prior)) vector = prior;
  else throw new Error(`unknown prior ${JSON.stringify(prior)}; use one of ${PRIOR_NAMES.join(', ')}`);
  const trained = processor.trained_prior || new Array(classes).fill(1 / classes);
  return vector.map((p, i) => Math.fround(Math.log(p) - Math.log(trained[i])));
}

/** Logits (faces x views, classes) -> probabilities per face (processor.probabilities): / temperature,
 * + the prior's adjustment, softmax, mean over each face's `views`. */
export function probabilities(logits, classes, views, processor, prior) {
  const adjustment = logitAdjustment(processor, prior, classes);
  const faces = logits.length / classes / views;
  const result = [];
  for (let f = 0; f < faces; f++) {
    const mean = new Array(classes).fill(0);
    for (let v = 0; v < views; v++) {
      const row = Array.from(logits.subarray((f * views + v) * classes, (f * views + v + 1) * classes),
                             (z, i) => z / processor.temperature + (adjustment ? adjustment[i] : 0));
      const top = Math.max(...row);
      const exp = row.map(z => Math.exp(z - top));
      const total = exp.reduce((a, b) => a + b, 0);
      exp.forEach((e, i) => { mean[i] += e / total / views; });
    }
    result.push(mean);
  }
  return result;
}

export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

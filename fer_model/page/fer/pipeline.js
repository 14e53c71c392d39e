// The fer_model pipeline in JavaScript: the same steps, in the same arithmetic, as the Python path
// (fer_model/detect.py, preprocess.py, processor.py, tracking.py), so that the page and Python
// agree face for face. Pure functions over typed arrays: no DOM, no onnxruntime (inference.js runs
// the networks), so Node's test runner checks them against fixtures that Python writes.
//
// Every number comes from the caller: the model folder's config.json and preprocessor_config.json,
// and the detector settings Python hands over (fer_model.web.detector_settings).

// ------------------------------------------------------------------------------------ rounding

/** Python's round(): halves go to the even neighbour. */
export function pyRound(x) {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// ------------------------------------------------------------------------------------ pixels

/** RGBA (canvas ImageData) or RGB bytes -> grey levels as PIL's convert("L") makes them
 * (ITU-R 601 in 16-bit fixed point: (R 19595 + G 38470 + B 7471 + 2^15) >> 16). */
export function toGray(pixels, width, height, channels = 4) {
  const gray = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < gray.length; i++, j += channels) {
    gray[i] = (pixels[j] * 19595 + pixels[j + 1] * 38470 + pixels[j + 2] * 7471 + 0x8000) >>> 16;
  }
  return gray;
}

/** RGBA bytes (a canvas's ImageData) -> RGB bytes. */
export function toRgb(pixels, width, height, channels = 4) {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < out.length; i += 3, j += channels) {
    out[i] = pixels[j]; out[i + 1] = pixels[j + 1]; out[i + 2] = pixels[j + 2];
  }
  return out;
}

/** Colour bytes (RGBA or RGB, `channels` per pixel) shrunk to outWidth x outHeight by area
 * averaging, as OpenCV's INTER_AREA does (each output pixel: the mean of the input it covers,
 * rounded), as 3-channel RGB. */
export function resizeArea(pixels, width, height, outWidth, outHeight, channels = 4) {
  if (width === 2 * outWidth && height === 2 * outHeight) return halve(pixels, width, outWidth, outHeight, channels);
  const out = new Uint8Array(outWidth * outHeight * 3);
  const sx = width / outWidth, sy = height / outHeight;
  const xs = spans(width, outWidth, sx), ys = spans(height, outHeight, sy);
  const row = new Float64Array(outWidth * 3);
  for (let oy = 0; oy < outHeight; oy++) {
    row.fill(0);
    for (const [y, wy] of ys[oy]) {
      const base = y * width * channels;
      for (let ox = 0; ox < outWidth; ox++) {
        for (const [x, wx] of xs[ox]) {
          const w = wx * wy, k = base + x * channels;
          row[ox * 3] += pixels[k] * w;
          row[ox * 3 + 1] += pixels[k + 1] * w;
          row[ox * 3 + 2] += pixels[k + 2] * w;
        }
      }
    }
    const area = sx * sy;
    for (let i = 0; i < row.length; i++) out[oy * outWidth * 3 + i] = Math.min(255, Math.round(row[i] / area - 1e-9));
  }
  return out;
}

function halve(pixels, width, outWidth, outHeight, channels) {
  // The common case (a 640x480 frame searched at 320x240): each output pixel is the rounded mean
  // of a 2x2 block, as OpenCV's INTER_AREA computes it ((a + b + c + d + 2) >> 2).
  const out = new Uint8Array(outWidth * outHeight * 3);
  const row = width * channels;
  for (let y = 0, o = 0; y < outHeight; y++) {
    let k = 2 * y * row;
    for (let x = 0; x < outWidth; x++, k += 2 * channels, o += 3) {
      for (let c = 0; c < 3; c++) {
        out[o + c] = (pixels[k + c] + pixels[k + channels + c] + pixels[k + row + c] + pixels[k + row + channels + c] + 2) >> 2;
      }
    }
  }
  return out;
}

function spans(size, outSize, scale) {
  // For each output index, the input indices it covers with the length of each overlap.
  const result = [];
  for (let o = 0; o < outSize; o++) {
    const start = o * scale, end = Math.min(size, (o + 1) * scale);
    const covered = [];
    for (let i = Math.floor(start); i < end; i++) {
      const overlap = Math.min(end, i + 1) - Math.max(start, i);
      if (overlap > 1e-9) covered.push([i, overlap]);
    }
    result.push(covered);
  }
  return result;
}

/** PIL's Image.resize(size, BILINEAR) of a grey image (antialiased when shrinking: the triangle
 * filter widened by the scale), in PIL's fixed-point arithmetic: horizontal pass, then vertical,
 * each rounded to 8 bits. */
export function resizeBilinear(gray, width, height, outWidth, outHeight) {
  if (width === outWidth && height === outHeight) return Uint8Array.from(gray);
  let source = gray, sourceWidth = width;
  if (outWidth !== width) {
    const [bounds, weights, size] = coefficients(width, outWidth);
    const pass = new Uint8Array(outWidth * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < outWidth; x++) {
        const start = bounds[2 * x], count = bounds[2 * x + 1];
        let sum = 1 << 21;
        for (let k = 0; k < count; k++) sum += source[y * sourceWidth + start + k] * weights[x * size + k];
        pass[y * outWidth + x] = clip8(sum);
      }
    }
    source = pass; sourceWidth = outWidth;
  }
  if (outHeight === height) return source;
  const [bounds, weights, size] = coefficients(height, outHeight);
  const out = new Uint8Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const start = bounds[2 * y], count = bounds[2 * y + 1];
    for (let x = 0; x < outWidth; x++) {
      let sum = 1 << 21;
      for (let k = 0; k < count; k++) sum += source[(start + k) * sourceWidth + x] * weights[y * size + k];
      out[y * outWidth + x] = clip8(sum);
    }
  }
  return out;
}

const PRECISION_BITS = 22;  // PIL: 32 - 8 - 2

function clip8(sum) {
  if (sum <= 0) return 0;
  if (sum >= 2 ** (PRECISION_BITS + 8)) return 255;
  return Math.floor(sum / 2 ** PRECISION_BITS);
}

function coefficients(inSize, outSize) {
  // PIL's precompute_coeffs with the bilinear filter (support 1), then its 8-bit fixed point.
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1.0);
  const support = filterScale;
  const size = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * size);
  const row = new Float64Array(size);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const count = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let total = 0;
    row.fill(0);
    for (let x = 0; x < count; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterScale);
      row[x] = t < 1 ? 1 - t : 0;
      total += row[x];
    }
    for (let x = 0; x < count; x++) {
      const w = total !== 0 ? row[x] / total : row[x];
      weights[xx * size + x] = w < 0 ? Math.trunc(-0.5 + w * 2 ** PRECISION_BITS) : Math.trunc(w * 2 ** PRECISION_BITS + 0.5);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = count;
  }
  return [bounds, weights, size];
}

// ------------------------------------------------------------------------------------ detector

/** The size an image is searched at (detect.py _search): the longer side at most `maxSide`. */
export function searchSize(width, height, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  if (scale === 1) return [width, height];
  return [Math.max(1, pyRound(width * scale)), Math.max(1, pyRound(height * scale))];
}

/** YuNet's input: RGB bytes -> float32 BGR planes (1, 3, H', W'), H' and W' padded with zeros
 * to multiples of 32, as OpenCV's FaceDetectorYN feeds its network. */
export function yunetInput(rgb, width, height) {
  const padWidth = Math.ceil(width / 32) * 32, padHeight = Math.ceil(height / 32) * 32;
  const data = new Float32Array(3 * padWidth * padHeight);
  const plane = padWidth * padHeight;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = (y * width + x) * 3, o = y * padWidth + x;
      data[o] = rgb[k + 2];
      data[plane + o] = rgb[k + 1];
      data[2 * plane + o] = rgb[k];
    }
  }
  return {data, dims: [1, 3, padHeight, padWidth], padWidth, padHeight};
}

/** YuNet's outputs (cls_8 ... kps_32 by name) -> faces in the searched image's pixels, as
 * OpenCV's face_detect.cpp decodes them: per anchor of strides 8, 16 and 32, score sqrt(cls x obj),
 * box and landmarks from the anchor, then non-maximum suppression on integer boxes (IoU `nms`). */
export function decodeYunet(outputs, padWidth, padHeight, {score_threshold: threshold, nms_threshold: nms, top_k: topK}) {
  const faces = [];
  for (const stride of [8, 16, 32]) {
    const cols = Math.trunc(padWidth / stride), rows = Math.trunc(padHeight / stride);
    const cls = outputs[`cls_${stride}`], obj = outputs[`obj_${stride}`];
    const bbox = outputs[`bbox_${stride}`], kps = outputs[`kps_${stride}`];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const score = Math.fround(Math.sqrt(clamp01(cls[i]) * clamp01(obj[i])));
        if (score < threshold) continue;
        const cx = (c + bbox[4 * i]) * stride, cy = (r + bbox[4 * i + 1]) * stride;
        const w = Math.exp(bbox[4 * i + 2]) * stride, h = Math.exp(bbox[4 * i + 3]) * stride;
        const landmarks = [];
        for (let n = 0; n < 5; n++) landmarks.push([(kps[10 * i + 2 * n] + c) * stride, (kps[10 * i + 2 * n + 1] + r) * stride]);
        faces.push({x: cx - w / 2, y: cy - h / 2, w, h, score, landmarks});
      }
    }
  }
  return suppress(faces, nms, topK);
}

function clamp01(v) { return Math.min(1, Math.max(0, v)); }

function suppress(faces, threshold, topK) {
  // cv::dnn::NMSBoxes on cv::Rect2i boxes (coordinates truncated), highest score first.
  const order = faces.map((face, i) => i).sort((a, b) => faces[b].score - faces[a].score).slice(0, topK);
  const rects = faces.map(f => [Math.trunc(f.x), Math.trunc(f.y), Math.trunc(f.w), Math.trunc(f.h)]);
  const kept = [];
  for (const i of order) {
    if (kept.every(j => rectIou(rects[i], rects[j]) <= threshold)) kept.push(i);
  }
  return kept.map(i => faces[i]);
}

function rectIou(a, b) {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  const inter = w > 0 && h > 0 ? w * h : 0;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/** Decoded faces of an image searched at (searchWidth, searchHeight) -> boxes in the image's own
 * pixels (detect.py _box and _clip): rounded, clipped, sorted largest first. Rows that are not
 * finite, have no extent or lie outside the image are dropped. */
export function toBoxes(faces, width, height, searchWidth, searchHeight) {
  const sx = width / searchWidth, sy = height / searchHeight;
  const boxes = [];
  for (const face of faces) {
    const values = [face.x, face.y, face.w, face.h, face.score, ...face.landmarks.flat()];
    if (!values.every(Number.isFinite) || face.w <= 0 || face.h <= 0 || face.x * sx >= width || face.y * sy >= height ||
        (face.x + face.w) * sx <= 0 || (face.y + face.h) * sy <= 0) continue;
    const box = clip({x: pyRound(face.x * sx), y: pyRound(face.y * sy), w: pyRound(face.w * sx), h: pyRound(face.h * sy),
                      score: face.score, landmarks: face.landmarks.map(([x, y]) => [x * sx, y * sy])}, 0, width, height);
    if (box) boxes.push(box);
  }
  return byArea(boxes);
}

/** The tiles a strip or a panorama is searched in (detect.py _search): null for an image searched
 * whole, [] for one too thin to hold a face, else [x, y, w, h] of each overlapping tile. */
export function searchTiles(width, height, {tile_aspect: aspect, min_face_side: minSide}) {
  const short = Math.min(width, height), long = Math.max(width, height);
  if (short < minSide) return [];
  if (long <= aspect * short) return null;
  const tile = 2 * short, stride = Math.trunc(tile * 3 / 4), starts = [];
  for (let start = 0; start < long - tile; start += stride) starts.push(start);
  starts.push(long - tile);
  return starts.map(start => (width > height ? [start, 0, tile, height] : [0, start, width, tile]));
}

/** The boxes of overlapping tiles as one set (detect.py _suppress): highest score first, a box
 * overlapping a kept one by IoU `threshold` or more dropped. */
export function mergeTiles(boxes, threshold) {
  const kept = [];
  for (const box of boxes.slice().sort((a, b) => (b.score || 0) - (a.score || 0))) {
    if (kept.every(other => iou(box, other) < threshold)) kept.push(box);
  }
  return kept;
}

/** A rectangle of an image's bytes (`channels` per pixel) as RGB bytes. */
export function cropPixels(pixels, width, channels, [x0, y0, w, h]) {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const k = ((y0 + y) * width + x0 + x) * channels, o = (y * w + x) * 3;
      out[o] = pixels[k]; out[o + 1] = pixels[k + 1]; out[o + 2] = pixels[k + 2];
    }
  }
  return out;
}

export function moveBox(box, dx, dy) {
  return {...box, x: box.x + dx, y: box.y + dy, landmarks: box.landmarks && box.landmarks.map(([x, y]) => [x + dx, y + dy])};
}

/** `box` moved by -`offset` on both axes and clipped to a width x height image (detect.py _clip). */
export function clip(box, offset, width, height) {
  const x0 = Math.max(0, box.x - offset), y0 = Math.max(0, box.y - offset);
  const x1 = Math.min(width, box.x - offset + box.w), y1 = Math.min(height, box.y - offset + box.h);
  if (x1 <= x0 || y1 <= y0) return null;
  return {x: x0, y: y0, w: x1 - x0, h: y1 - y0, score: box.score,
          landmarks: box.landmarks.map(([x, y]) => [x - offset, y - offset])};
}

export function byArea(boxes) {
  return boxes.slice().sort((a, b) => b.w * b.h - a.w * a.h);
}

/** RGB bytes with `pad` pixels added on every side, edge pixels repeated (the retried search of
 * an image that may be a face crop already: detect.py's retry_pad). */
export function padReplicate(rgb, width, height, pad) {
  const outWidth = width + 2 * pad, outHeight = height + 2 * pad;
  const out = new Uint8Array(outWidth * outHeight * 3);
  for (let y = 0; y < outHeight; y++) {
    const sy = Math.min(height - 1, Math.max(0, y - pad));
    for (let x = 0; x < outWidth; x++) {
      const sx = Math.min(width - 1, Math.max(0, x - pad));
      const o = (y * outWidth + x) * 3, k = (sy * width + sx) * 3;
      out[o] = rgb[k]; out[o + 1] = rgb[k + 1]; out[o + 2] = rgb[k + 2];
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------ crops

/** The square around a face (preprocess.py crop_face without eye levelling): side `scale` x the
 * box's longer side, centred on the box's centre moved by `shift` x that side; edge pixels repeat
 * where it leaves the image. Returns [pixels, side]. */
export function cropFace(gray, width, height, box, scale, shift) {
  const longer = Math.max(box.w, box.h);
  const side = Math.max(1, Math.trunc(pyRound(longer * scale)));
  const cx = box.x + box.w / 2 + shift[0] * longer, cy = box.y + box.h / 2 + shift[1] * longer;
  const left = pyRound(cx - side / 2), top = pyRound(cy - side / 2);
  if (left >= width || top >= height || left + side <= 0 || top + side <= 0) {
    throw new Error(`the face box (${box.x}, ${box.y}, ${box.w}, ${box.h}) lies outside the ${width}x${height} image`);
  }
  const out = new Uint8Array(side * side);
  for (let i = 0; i < side; i++) {
    const y = Math.min(height - 1, Math.max(0, top + i));
    for (let j = 0; j < side; j++) out[i * side + j] = gray[y * width + Math.min(width - 1, Math.max(0, left + j))];
  }
  return [out, side];
}

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

// ------------------------------------------------------------------------------------ probabilities

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

// ------------------------------------------------------------------------------------ tracking

function iou(a, b) {
  const w = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = w * h, union = a.w * a.h + b.w * b.h - inter;
  return union ? inter / union : 0;
}

/** tracking.py FaceTracker: a number per face that stays with it across frames (the track whose
 * last box overlaps it most, IoU >= minIou), kept `lostFrames` frames while unseen, and an
 * exponential moving average of its probabilities (`keep` x the past). A whole-image prediction
 * passes through without a number. */
export class FaceTracker {
  constructor(keep = 0, minIou = 0.3, lostFrames = 10) {
    this.keep = keep;
    this.minIou = minIou;
    this.lostFrames = lostFrames;
    this.tracks = new Map();  // number -> {box, probabilities, missed}, in number order
    this.nextId = 1;
  }

  update(faces, keep = this.keep) {
    const free = new Map(this.tracks), tracks = new Map(), out = [];
    for (const face of faces) {
      if (!face.faceFound) { out.push({...face, number: null}); continue; }
      let best = null, bestIou = -1;
      for (const [number, track] of free) {
        const overlap = iou(track.box, face.box);
        if (overlap > bestIou) { best = number; bestIou = overlap; }
      }
      let current = face.probabilities, number;
      if (best !== null && bestIou >= this.minIou) {
        const previous = free.get(best).probabilities;
        free.delete(best);
        number = best;
        current = current.map((p, i) => keep * previous[i] + (1 - keep) * p);
      } else {
        number = this.nextId++;
      }
      tracks.set(number, {box: face.box, probabilities: current, missed: 0});
      out.push({...face, number, probabilities: current, label: argmax(current)});
    }
    for (const [number, track] of free) {  // unseen this frame: kept a while
      if (track.missed < this.lostFrames) tracks.set(number, {...track, missed: track.missed + 1});
    }
    this.tracks = new Map([...tracks].sort((a, b) => a[0] - b[0]));
    return out;
  }
}

export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

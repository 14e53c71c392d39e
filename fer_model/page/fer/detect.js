// The face detector's arithmetic (fer_model/vision/detect.py): YuNet's input and output decoding, its
// NMS, the search size, tiles for strips and panoramas, and box bookkeeping.
//
// Pure functions over typed arrays, in the same arithmetic as Python so that the page and Python
// agree face for face; every number comes from the caller (what Python hands over: fer_model.web).

import {pyRound} from './preprocess.js';

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

/** Intersection over union of two {x, y, w, h} boxes (detect.py iou). */
export function iou(a, b) {
  const w = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = w * h, union = a.w * a.h + b.w * b.h - inter;
  return union ? inter / union : 0;
}

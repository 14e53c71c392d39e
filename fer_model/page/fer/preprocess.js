// Image operations of the page (fer_model/processing/preprocess.py): Python's rounding, PIL's greyscale
// conversion, OpenCV's INTER_AREA and PIL's antialiased bilinear resize, crops with edge repeat.
//
// Pure functions over typed arrays, in the same arithmetic as Python so that the page and Python
// agree face for face; every number comes from the caller (what Python hands over: fer_model.web).

/** Python's round(): halves go to the even neighbour. */
export function pyRound(x) {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

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

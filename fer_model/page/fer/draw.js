// Drawing the page's results: the frame with numbered boxes and labels (as fer_model.vision.render.annotate
// draws them), and a panel of every label's probability per face (render.probability_bars).

/** `colours`: one [r, g, b] per face number, from Python (render.FACE_COLOURS). */
export function colourOf(colours, number) {
  const [r, g, b] = colours[((number || 1) - 1) % colours.length];
  return `rgb(${r}, ${g}, ${b})`;
}

/** The bitmap on `canvas` (mirrored when `mirror`: the selfie view), each found face boxed with its
 * number, top label and probability. */
export function drawFrame(canvas, bitmap, faces, labels, colours, mirror = false) {
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext('2d');
  context.save();
  if (mirror) context.setTransform(-1, 0, 0, 1, bitmap.width, 0);
  context.drawImage(bitmap, 0, 0);
  context.restore();
  const scale = Math.max(bitmap.width, bitmap.height) / 640;
  context.lineWidth = Math.max(1, Math.round(2 * scale));
  context.font = `600 ${Math.round(15 * scale)}px sans-serif`;
  context.textBaseline = 'top';
  for (const face of faces) {
    if (!face.faceFound) continue;
    const {x, y, w, h} = face.box;
    const colour = colourOf(colours, face.number);
    const text = `${face.number} ${labels[face.label]} ${Math.round(100 * face.probabilities[face.label])}%`;
    const height = Math.round(20 * scale), width = context.measureText(text).width + 8 * scale;
    const top = y - height >= 0 ? y - height : y + h;
    context.strokeStyle = colour;
    context.strokeRect(x, y, w, h);
    context.fillStyle = colour;
    context.fillRect(x, top, width, height);
    context.fillStyle = 'white';
    context.fillText(text, x + 4 * scale, top + 3 * scale);
  }
}

/** One block per face (at most `maxFaces`): its number in its colour, then every label with a bar
 * and a percentage, in the model's label order. A frame without a face says so. */
export function drawBars(canvas, faces, labels, colours, maxFaces) {
  const shown = faces.filter(face => face.faceFound).slice(0, maxFaces);
  const row = 20, block = (labels.length + 1) * row + 8, width = 380;
  canvas.width = width;
  canvas.height = Math.max(1, shown.length) * block;
  const context = canvas.getContext('2d');
  context.fillStyle = 'white';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.font = '13px sans-serif';
  context.textBaseline = 'middle';
  if (!shown.length) {
    context.fillStyle = '#444';
    context.fillText('No face found in this frame.', 8, row);
    return;
  }
  shown.forEach((face, k) => {
    const top = k * block, colour = colourOf(colours, face.number);
    context.fillStyle = colour;
    context.font = '600 14px sans-serif';
    context.fillText(`Face ${face.number}`, 8, top + row / 2 + 2);
    context.font = '13px sans-serif';
    labels.forEach((label, i) => {
      const y = top + (i + 1) * row + 4, p = face.probabilities[i];
      context.fillStyle = '#333';
      context.fillText(label, 8, y + row / 2);
      context.fillStyle = '#e6e6e6';
      context.fillRect(80, y + 3, 240, row - 6);
      context.fillStyle = colour;
      context.fillRect(80, y + 3, Math.round(240 * p), row - 6);
      context.fillStyle = '#333';
      context.fillText(`${(100 * p).toFixed(0)}%`, 328, y + row / 2);
    });
  });
}

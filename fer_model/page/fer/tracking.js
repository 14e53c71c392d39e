// The face tracker (fer_model/vision/tracking.py): numbers that stay with faces across frames, a
// lost-track buffer, and a moving average of each face's probabilities.
//
// Pure functions over typed arrays, in the same arithmetic as Python so that the page and Python
// agree face for face; every number comes from the caller (what Python hands over: fer_model.web).

import {iou} from './detect.js';
import {argmax} from './processor.js';

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

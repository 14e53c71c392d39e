// The camera loop the app's Webcam tab (webcam.js) and the static page (standalone.js) share: when
// a new camera frame is there, and when to hand it to the worker.
//
// Frames with the worker: one being read and at most one waiting. A camera frame is sent while
// another is being read only when that one is due within half a frame interval (by the worker's
// recent time per frame), so the worker seldom idles and no frame waits long: the rate of two in
// flight with close to the lag of one (docs/experiments.md measures the alternatives).

export const CAMERA_INTERVAL = 1000 / 30;

/** Resolves when the camera shows a frame not sent yet (or after 100 ms where the browser cannot
 * tell), so the same picture is never sent twice. */
export function nextCameraFrame(video) {
  return new Promise(resolve => {
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => resolve());
    else setTimeout(resolve, CAMERA_INTERVAL);
    setTimeout(resolve, 100);
  });
}

export class FramePacer {
  constructor() {
    this.withWorker = 0;
    this.readSince = 0;  // when the frame being read was sent
    this.frameMs = 30;  // the worker's recent time per frame, answer to answer (moving average)
    this.sent = 0;
    this.drawn = 0;
  }

  /** Hand the camera's current frame to `engine` (client.js) if the pacing allows, else return at
   * once. `show(answer)` gets each answer newer than the last one shown and returns false where it
   * did not draw it; the answer's bitmap is closed here afterwards. A failure of the worker rejects. */
  async offer(engine, video, options, show) {
    const now = performance.now();
    if (this.withWorker >= 2 || (this.withWorker === 1 && this.frameMs - (now - this.readSince) > CAMERA_INTERVAL / 2)) {
      return;
    }
    if (this.withWorker === 0) this.readSince = now;
    this.withWorker++;
    const number = ++this.sent;
    try {
      const t0 = performance.now();
      const answer = await engine.frame(video, options);
      if (answer.type === 'skipped') return;
      const done = performance.now();
      this.frameMs = 0.8 * this.frameMs + 0.2 * (done - Math.max(this.readSince, t0));
      this.readSince = done;  // the waiting frame, if any, is being read from now
      try {
        if (number > this.drawn && show(answer) !== false) this.drawn = number;
      } finally {
        answer.bitmap.close();
      }
    } finally {
      this.withWorker--;
    }
  }
}

// The page's side of the worker (worker.js): start it on the assets Python lists
// (fer_model.web.browser_assets), then send it camera frames and photos. Used by the app's Webcam
// tab (page/webcam.js) and by the static page `fer-model export-web` writes (page/standalone.js).

export class Engine {
  /** Start the worker and load the runtime and the detector; `url(path)` resolves the paths of
   * `browser` (relative to the app or the page) to addresses. Rejects with the reason where this
   * browser or an asset fails. */
  static async start(browser, url) {
    if (typeof WebAssembly !== 'object' || typeof Worker !== 'function' || typeof OffscreenCanvas !== 'function') {
      throw new Error('this browser lacks WebAssembly, Web Workers or OffscreenCanvas');
    }
    const worker = new Worker(url(browser.worker), {type: 'module'});
    const assets = {...browser.assets, vendor: url(browser.assets.vendor), yunet: url(browser.assets.yunet),
                    models: Object.fromEntries(Object.entries(browser.assets.models)
                      .map(([name, files]) => [name, {...files, folder: url(files.folder)}]))};
    await new Promise((resolve, reject) => {
      worker.onmessage = ({data}) => data.type === 'ready' ? resolve() : reject(new Error(data.message));
      worker.onerror = event => reject(new Error(event.message || 'the worker script failed to load'));
      worker.postMessage({type: 'load', assets});
    }).catch(error => { worker.terminate(); throw error; });
    return new Engine(worker, Object.keys(assets.models));
  }

  constructor(worker, models) {
    this.worker = worker;
    this.models = models;  // the models the browser can run
    this.pending = new Map();
    this.requests = 0;
    this.failure = null;  // why the worker stopped, once it has: every request is then refused with it
    this.onfailure = null;  // called once with that reason (the page falls back to its server path)
    worker.onerror = event => {
      if (event && event.preventDefault) event.preventDefault();
      this.fail(`the in-browser worker stopped (${event && event.message || 'an error in the worker'})`);
    };
    worker.onmessageerror = () => this.fail('the in-browser worker sent a message the page could not read');
    worker.onmessage = ({data}) => {
      const waiting = this.pending.get(data.id);
      if (!waiting) return;
      this.pending.delete(data.id);
      if (data.type === 'error') waiting.reject(new Error(data.message));
      else waiting.resolve(data);
    };
  }

  /** The worker is gone: reject every request waiting for it (none waits for ever), and say why. */
  fail(reason) {
    if (this.failure) return;
    this.failure = reason;
    for (const waiting of this.pending.values()) waiting.reject(new Error(reason));
    this.pending.clear();
    this.worker.terminate();
    if (this.onfailure) this.onfailure(reason);
  }

  ask(message, transfer = []) {
    if (this.failure) return Promise.reject(new Error(this.failure));
    const id = ++this.requests;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject});
      this.worker.postMessage({...message, id}, transfer);
    });
  }

  /** A model's labels, the priors it offers and its default prior (loading it if needed). */
  describe(model) { return this.ask({type: 'describe', model}); }

  /** One camera frame at most `width` pixels wide, mirrored as a selfie view, through the tracker:
   * {type: 'result', bitmap, faces, labels, ms} (the caller closes the bitmap), or {type: 'skipped'}
   * where a newer frame took its turn. */
  async frame(video, {width, model, prior, keep}) {
    const w = Math.min(width, video.videoWidth), h = Math.round(w * video.videoHeight / video.videoWidth);
    const options = w === video.videoWidth ? {} : {resizeWidth: w, resizeHeight: h, resizeQuality: 'medium'};
    const bitmap = await createImageBitmap(video, options);
    return this.ask({type: 'frame', bitmap, model, prior, keep, mirror: true}, [bitmap]);
  }

  /** A photo (a File, Blob or ImageBitmap) read as EmotionRecognizer.predict reads it. */
  async photo(image, {model, prior}) {
    const bitmap = image instanceof ImageBitmap ? image : await createImageBitmap(image, {imageOrientation: 'from-image'});
    return this.ask({type: 'photo', bitmap, model, prior, mirror: false}, [bitmap]);
  }
}

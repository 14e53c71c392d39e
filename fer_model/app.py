"""The fer_model demo: facial expressions from an uploaded photo, a live webcam or a clip.

    fer-model demo                      # http://127.0.0.1:7860, the shipped weights (any install)
    python app.py                       # the same from a checkout or a Space
    python app.py --model DIR_OR_HUB_ID --port 8000 --share

A Hugging Face Space runs the checkout's app.py, whose module-level `demo` is `create()` of this
module. Without --host, --port or --share, Gradio's GRADIO_SERVER_NAME, GRADIO_SERVER_PORT and
GRADIO_SHARE apply. The Webcam tab's HTML, CSS and script are the package's page/ files
(fer_model.web.PAGE), installed with it.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import shutil
import atexit
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from .folder import DEFAULT_MODEL_NAME, EXAMPLES, SHIPPED_MODELS, resolve_model
from .pipelines.inference import EmotionRecognizer
from .processing.preprocess import ImageError, load_image
from .pipelines.batch import BatchPredictor, InputError, plot_timeline, frame_recognizer, video_info, write_rows
from .cli import reported_errors
from .processing.preprocess import to_rgb
from .vision.render import annotate, probability_bars
from .vision.tracking import FaceTracker
from . import web  # noqa: E402  (the module: its WEBCAM_* defaults)
from .web import (DYNAMIC_YUNET_FILE, PAGE, PRIOR_LABELS, SMOOTHING, SMOOTHING_MAX, VENDOR, browser_assets,
                  runs_in_browser)

MAX_DISPLAY_SIDE = 1600  # larger uploads are downscaled before detection and drawing
WEBCAM_IN_FLIGHT = 2  # webcam frames on their way to the server at once (page/webcam.js)
MAX_LIVE_PIXELS = 1920 * 1440  # larger webcam frames are refused (the page sends WEBCAM_WIDTH-wide ones)
LIVE_CLIENTS = 32  # webcam pages whose per-face smoothing state is kept (the least recent go first)
WEBCAM_WIDTH = web.WEBCAM_WIDTH  # pixels wide the page reads webcam frames at (it scales the camera's picture)
STREAM_TIME_LIMIT = 300  # seconds a webcam stream may run before it must be restarted
# The webcam's default class prior: someone in front of a camera shows expressions on purpose, so
# each of them is about as likely (photos and clips keep the model's own default; README: priors).
WEBCAM_PRIOR = web.WEBCAM_PRIOR
PRIOR_INFO = ("How common each expression is assumed to be. Balanced: all seven equally likely (posed faces, "
              "someone pulling faces at the camera). Everyday: mostly neutral and happy, as in ordinary photos. "
              "As trained: the mix the model learned from.")
SALIENCY_MISSING = ("Grad-CAM needs PyTorch, which this server runs without (its predictions use onnxruntime); "
                    "install the full requirements to see where the model looked.")
SMOOTHING_INFO = ("Each update shows this share of the previous bars plus the rest of the new frame (an exponential "
                  "moving average per face), so the bars do not flicker.")
TABLE_COLUMNS = ["face", "label", "probability", "x", "y", "width", "height"]
MAX_FILE_MB = 20  # uploads larger than this are refused before they reach the disk cache
CACHE_MAX_AGE = 3600  # seconds an uploaded or generated file stays in Gradio's cache
MAX_VIDEO_SECONDS = 60  # longer clips are refused in the Video tab (the `predict` command has no limit)


class OutputFiles:
    """Upload results handed to Gradio as finished files with unique names, deleted by the same rule
    as Gradio's cache: once older than `max_age_seconds` (checked every half of that), and all of
    them when the app stops.

    Gradio caches a returned array under a name derived from its pixels and rewrites that file in
    place, so two requests with identical results (two visitors clicking the same example) can
    serve a half-written image. Files returned by path go through Gradio's atomic copy instead.
    """

    def __init__(self, max_age_seconds: float = CACHE_MAX_AGE) -> None:
        self.max_age_seconds = max_age_seconds
        self._folder: Path | None = None  # made by the first request, so that importing the app writes nothing
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="fer_model_app_"))
                atexit.register(self.close)
                threading.Thread(target=self._clean_periodically, name="output-files-cleanup", daemon=True).start()
            return self._folder

    def save(self, array: np.ndarray, suffix: str) -> str:
        path = self.new_folder() / f"{uuid.uuid4().hex}.{suffix}"
        Image.fromarray(array).save(path, quality=90) if suffix == "jpg" else Image.fromarray(array).save(path)
        return str(path)

    def new_folder(self) -> Path:
        """An empty folder of its own for one request's files."""
        folder = self.folder / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    def clean(self) -> None:
        """Delete the request folders older than max_age_seconds (Gradio has long copied their files)."""
        now = time.time()
        for old in list(self._folder.iterdir()) if self._folder and self._folder.exists() else []:
            if now - old.stat().st_mtime > self.max_age_seconds:
                shutil.rmtree(old, ignore_errors=True)

    def close(self) -> None:
        """Delete every file (the app is stopping)."""
        self._stop.set()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _clean_periodically(self) -> None:
        while not self._stop.wait(max(1.0, self.max_age_seconds / 2)):
            self.clean()


class Demo:
    """The model and detectors, loaded once; the handlers below are what the page calls."""

    def __init__(self, model: str | os.PathLike | None = None, cache_max_age: int = CACHE_MAX_AGE) -> None:
        # The page offers the model asked for first, then the other shipped ones (each loaded once).
        first = str(model) if model is not None else DEFAULT_MODEL_NAME
        self.models = {name: self._load(name) for name in dict.fromkeys([first, *SHIPPED_MODELS])}
        self.upload, self.live, self.clips = self.models[first]
        self.files = OutputFiles(cache_max_age)
        self.live_states: OrderedDict[str, list] = OrderedDict()  # per webcam page, for `live_frame`
        self.live_lock = threading.Lock()

    @staticmethod
    def _load(model: str) -> tuple[EmotionRecognizer, EmotionRecognizer, EmotionRecognizer]:
        """(photos, webcam, video) recognizers of one model. Webcam faces are large, so frames are
        searched at 320 pixels (frame_recognizer). The live stream already averages over frames
        (the smoothing), so it classifies one crop instead of every test-time view (bench/webcam.py),
        and it assumes WEBCAM_PRIOR: people showing expressions to a camera show all of them."""
        upload = EmotionRecognizer.from_pretrained(model)
        live = frame_recognizer(upload, single_view=True).with_prior(WEBCAM_PRIOR)
        return upload, live, frame_recognizer(upload)  # the Video tab runs clips as `predict` does

    def model_choices(self) -> list[str]:
        return list(self.models)

    @property
    def saliency_available(self) -> bool:
        """Whether Grad-CAM can run: it needs the torch backend (a torch-free install has none)."""
        return all(upload.backend == "torch" for upload, _, _ in self.models.values())

    def _saliency(self, show_saliency: bool) -> bool:
        if show_saliency and not self.saliency_available:
            raise gr.Error(SALIENCY_MISSING, print_exception=False)
        return bool(show_saliency)

    def browser_folders(self) -> dict[str, Path]:
        """The local folders of the models the page can run itself (model.onnx beside the weights)."""
        folders = {name: Path(resolve_model(name)) for name in self.models}
        return {name: folder for name, folder in folders.items() if folder.is_dir() and runs_in_browser(folder)}

    def _model(self, model: str | None) -> tuple[EmotionRecognizer, EmotionRecognizer, EmotionRecognizer]:
        if model in (None, ""):
            return self.models[next(iter(self.models))]
        if model not in self.models:
            raise gr.Error(f"Unknown model {model!r}; choose one of {', '.join(self.models)}.", print_exception=False)
        return self.models[model]

    def prior_choices(self, model: str | None = None) -> list[tuple[str, str]]:
        """(what the page shows, the prior's name) of the priors `model` offers (default: the first)."""
        return [(PRIOR_LABELS[name], name) for name in self._model(model)[0].processor.prior_names()]

    def default_prior(self, model: str | None = None) -> str | None:
        """The prior `model` reads photos and clips under (its preprocessor_config.json's)."""
        prior = self._model(model)[0].processor.prior
        return prior if isinstance(prior, str) else None

    def prior_control(self, model: str | None = None) -> gr.Radio:
        """The prior control of the Upload and Video tabs for `model`: its priors, its default
        chosen (the page calls it when the model changes)."""
        return gr.Radio(self.prior_choices(model), value=self.default_prior(model))

    def _prior(self, prior: str | None, model: str | None = None) -> str | None:
        if prior in (None, ""):
            return None
        names = [name for _, name in self.prior_choices(model)]
        if prior not in names:
            raise gr.Error(f"Unknown prior {prior!r} for {model or self.model_choices()[0]}; choose one of "
                           f"{', '.join(names)}.", print_exception=False)
        return prior

    def predict(self, file: dict | str | None, show_saliency: bool = False, prior: str | None = None,
                show_landmarks: bool = False, model: str | None = None):
        """Upload handler and the `/predict` API: image file in; annotated image, bars, top label,
        table, per-face JSON (box, landmarks, scores) and a status line out. `prior`: the class
        prior (default: the model's); `show_landmarks`: mark the detector's five points; `model`:
        one of :meth:`model_choices` (default: the first)."""
        prior, (upload, _, _) = self._prior(prior, model), self._model(model)
        show_saliency = self._saliency(show_saliency)
        if file is None:
            raise gr.Error("Upload an image first.", print_exception=False)
        path = file["path"] if isinstance(file, dict) else file
        try:
            image = load_image(path)
        except ImageError as error:
            raise gr.Error(f"Could not read that file: {_plain(error, path)}", print_exception=False) from None
        notes = []
        if max(image.size) > MAX_DISPLAY_SIDE:
            notes.append(f"The {image.width}x{image.height} image was downscaled to fit {MAX_DISPLAY_SIDE} pixels.")
            image.thumbnail((MAX_DISPLAY_SIDE, MAX_DISPLAY_SIDE))
        frame = to_rgb(image)
        faces = upload.with_prior(prior).predict(frame, saliency=show_saliency)
        if not faces[0].face_found:
            notes.insert(0, "No face found: the whole image was classified as one face, which is only "
                            "meaningful for a tightly cropped face.")
        else:
            notes.insert(0, f"{len(faces)} face{'s' if len(faces) > 1 else ''} found.")
        return (self.files.save(annotate(frame, faces, landmarks=show_landmarks), "jpg"), self.files.save(probability_bars(faces), "png"),
                _top_label(faces), _table(faces), [face.to_dict() for face in faces], " ".join(notes))

    def stream(self, frame: np.ndarray | None, state: FaceTracker | None, keep: float, show_saliency: bool,
               prior: str | None = None, model: str | None = None):
        """One webcam frame through the face tracker (a page's state: each face's number and moving
        average): annotated frame, smoothed bars and the tracker out. :meth:`live_frame` calls it."""
        tracker = state or FaceTracker()
        if frame is None:
            return None, probability_bars([]), tracker
        live = self._model(model)[1].with_prior(self._prior(prior, model))
        tracked = tracker.update(live.predict(frame, saliency=show_saliency), keep)
        faces, numbers = [face for _, face in tracked], [number or 1 for number, _ in tracked]
        return annotate(frame, faces, numbers), probability_bars(faces, numbers=numbers), tracker

    def live_frame(self, request: dict) -> dict:
        """The Webcam tab's handler (page/webcam.js): {"image": JPEG data URL, "client": page id, "keep":
        smoothing, "saliency": bool, "prior": name (optional), "model": name (optional)} in; {"frame": JPEG data URL, "bars": PNG
        data URL} out, or {"error": message}. Each page's smoothing state stays here, keyed by its id."""
        try:
            client, keep, show_saliency = str(request["client"]), float(request["keep"]), bool(request["saliency"])
            model = request.get("model") or None
            if model is not None and model not in self.models:
                return {"error": f"Unknown model {model!r}."}
            prior = request.get("prior") or None
            if prior is not None and prior not in [name for _, name in self.prior_choices(model)]:
                return {"error": f"Unknown prior {prior!r}."}
            if show_saliency and not self.saliency_available:
                return {"error": SALIENCY_MISSING}
            image = load_image(base64.b64decode(request["image"].partition(",")[2], validate=True))
        except ImageError as error:
            return {"error": f"The webcam frame could not be read: {error}."}
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return {"error": f"Bad webcam request ({type(error).__name__}: {error})."}
        if image.width * image.height > MAX_LIVE_PIXELS:
            return {"error": f"The webcam frame is {image.width}x{image.height} pixels; at most "
                             f"{MAX_LIVE_PIXELS:,} are taken (the page sends {WEBCAM_WIDTH} pixels wide)."}
        frame = to_rgb(image)
        with self.live_lock:
            state = self.live_states.get(client)  # two frames of one page may be in flight: one blend may be lost
        if state is not None and getattr(state, "model", None) != model:
            state = None  # another model's averages would blend two models' probabilities
        annotated, bars, state = self.stream(frame, state, min(max(keep, 0.0), SMOOTHING_MAX), show_saliency, prior, model)
        state.model = model
        with self.live_lock:
            self.live_states[client] = state
            self.live_states.move_to_end(client)
            while len(self.live_states) > LIVE_CLIENTS:
                self.live_states.popitem(last=False)
        return {"frame": _data_url(annotated, ".jpg"), "bars": _data_url(bars, ".png")}

    def video(self, file: dict | str | None, every: int = 1, prior: str | None = None, model: str | None = None,
              progress=gr.Progress()):
        """Video tab handler: a clip in; the annotated clip, the timeline plot, the CSV and a status line out."""
        prior, (upload, _, clips) = self._prior(prior, model), self._model(model)
        if file is None:
            raise gr.Error("Upload a video first.", print_exception=False)
        path = Path(file["path"] if isinstance(file, dict) else file)
        frames, fps = video_info(path)
        if frames == 0 or fps == 0:
            raise gr.Error("Could not read that video: no video stream OpenCV can decode.", print_exception=False)
        if frames / fps > MAX_VIDEO_SECONDS:
            raise gr.Error(f"The clip lasts {frames / fps:.0f} s; the demo takes up to {MAX_VIDEO_SECONDS} s "
                           "(`python -m fer_model predict` has no limit).", print_exception=False)
        out = self.files.new_folder()
        predictor = BatchPredictor(upload.with_prior(prior), every=max(1, int(every)), annotate=out,
                                   video_format="webm", video_recognizer=clips.with_prior(prior))
        total = max(1, frames // predictor.every)
        done = [0]

        def step() -> None:
            done[0] += 1
            progress((done[0], total), desc="Analysing frames", unit="frames")

        try:
            rows = list(predictor.video_rows(path, step))
        except InputError as error:
            raise gr.Error(f"Could not read that video: {_plain(error, str(path))}", print_exception=False) from None
        write_rows(rows, clips.labels, out / "faces.csv")
        plot_timeline(rows, clips.labels, out / "timeline.png", title=path.name)
        faces = len({row.face_id for row in rows})
        status = (f"{done[0]} frames analysed ({fps:.0f} frames/s, every {predictor.every}), {faces} face(s) followed, "
                  f"{len(rows)} rows." if rows else f"{done[0]} frames analysed; no face found.")
        return str(predictor.annotated_video(path)), str(out / "timeline.png"), str(out / "faces.csv"), status


def _duration(seconds: int) -> str:
    return f"{seconds // 3600} hour{'s' if seconds >= 7200 else ''}" if seconds % 3600 == 0 else f"{seconds} seconds"


def _plain(error: Exception, path: str) -> str:
    """The error message without the server's temporary path."""
    return str(error).replace(f"{path}: ", "").replace(str(path), "the file")


def _data_url(image: np.ndarray, suffix: str) -> str:
    """An RGB array as a data URL the page can show at once (JPEG quality 85, or fast PNG)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 85] if suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    encoded = cv2.imencode(suffix, np.ascontiguousarray(image[:, :, ::-1]), params)[1]
    mime = "jpeg" if suffix == ".jpg" else "png"
    return f"data:image/{mime};base64,{base64.b64encode(encoded.tobytes()).decode()}"


def _top_label(faces) -> dict[str, float]:
    return dict(faces[0].probabilities)


def _table(faces) -> pd.DataFrame:
    rows = [[i + 1 if f.face_found else "whole image", f.label, round(f.score, 4), *f.box] for i, f in enumerate(faces)]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def build(demo: Demo, max_file_mb: float = MAX_FILE_MB, cache_max_age: int = CACHE_MAX_AGE,
          webcam_width: int = WEBCAM_WIDTH, webcam_in_flight: int = WEBCAM_IN_FLIGHT) -> gr.Blocks:
    """The page over `demo`'s models: Upload, Webcam and Video tabs, queued. The in-browser
    webcam's files (page/fer, onnxruntime-web, YuNet's graph, the model folders) are served by
    the app itself as Gradio static files: offline, and behind any proxy or path prefix."""
    gr.set_static_paths([PAGE / "fer", PAGE / VENDOR, DYNAMIC_YUNET_FILE, *demo.browser_folders().values()])
    # delete_cache=(how often, how old): files older than cache_max_age are removed that often.
    with gr.Blocks(title="fer_model: facial expression recognition",
                   delete_cache=(max(1, cache_max_age // 2), cache_max_age)) as blocks:
        gr.Markdown("# Facial expression recognition\nA small CNN trained on FER-2013 faces reads each face as one of "
                    f"seven expressions: {', '.join(demo.upload.labels)}. Faces are found with YuNet (OpenCV); "
                    f"nothing leaves this machine. Uploads up to {max_file_mb:g} MB; files are deleted from the "
                    f"server after {_duration(cache_max_age)}.", elem_id="intro")
        with gr.Tab("Upload"):
            _upload_tab(demo)
        with gr.Tab("Webcam"):
            _webcam_tab(demo, webcam_width, webcam_in_flight)
        with gr.Tab("Video"):
            _video_tab(demo)
        gr.Markdown("Expressions are not emotions: the model reads facial configurations and is often wrong. "
                    "Do not use it to make decisions about people.")
    blocks.fer_demo = demo  # the handlers' object, for the code that launches or inspects the page
    return blocks.queue(default_concurrency_limit=4)


def _model_control(demo: Demo, elem_id: str) -> gr.Dropdown:
    info = "; ".join(f"{name}: {SHIPPED_MODELS[name]}" for name in demo.model_choices() if name in SHIPPED_MODELS)
    return gr.Dropdown(demo.model_choices(), value=demo.model_choices()[0], label="Model", info=info or None,
                       elem_id=elem_id)


def _prior_control(demo: Demo, elem_id: str, model: gr.Dropdown) -> gr.Radio:
    """The prior control of a tab, following that tab's model control: the chosen model's priors
    and its default prior."""
    prior = gr.Radio(demo.prior_choices(), value=demo.default_prior(), label="Expected expressions (class prior)",
                     info=PRIOR_INFO, elem_id=elem_id)
    model.change(demo.prior_control, model, prior, api_visibility="private")
    return prior


def _upload_tab(demo: Demo) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(label="Image", type="filepath", sources=["upload", "clipboard"], height=360)
            saliency = gr.Checkbox(label="Show where the model looked (Grad-CAM)", value=False,
                                   interactive=demo.saliency_available,
                                   info=None if demo.saliency_available else SALIENCY_MISSING)
            landmarks = gr.Checkbox(label="Mark the face landmarks (eyes, nose tip, mouth corners)", value=False)
            model = _model_control(demo, "model")
            prior = _prior_control(demo, "prior", model)
            button = gr.Button("Recognise expressions", variant="primary")
            gr.Examples([os.path.join(EXAMPLES, name) for name in ("astronaut.png", "astronaut_grid.jpg",
                                                                  "chelsea_cat.jpg")], inputs=image)
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="status")
            with gr.Row():
                annotated = gr.Image(label="Faces", type="filepath", height=440, elem_id="annotated")
                top = gr.Label(label="Face 1", num_top_classes=7, elem_id="top-label")
            bars = gr.Image(label="Probabilities per face", show_label=False, type="filepath", elem_id="bars")
            table = gr.Dataframe(headers=TABLE_COLUMNS, label="Results", interactive=False)
            with gr.Accordion("Per-face results as the API returns them", open=False):
                faces = gr.JSON(show_label=False)
    outputs = [annotated, bars, top, table, faces, status]
    # preprocess=False: the handler reads the file itself, so a bad file gets our message, not a trace.
    inputs = [image, saliency, prior, landmarks, model]
    button.click(demo.predict, inputs, outputs, api_name="predict", preprocess=False)
    image.upload(demo.predict, inputs, outputs, api_visibility="private", preprocess=False)


def _webcam_tab(demo: Demo, webcam_width: int = WEBCAM_WIDTH, in_flight: int = WEBCAM_IN_FLIGHT) -> None:
    """page/webcam.html with page/webcam.js: each camera frame is read in the page by the worker of
    page/fer (no request per frame); on the server path (no WebAssembly, an asset failed, Grad-CAM
    on) the page sends each new frame to Demo.live_frame in one request as soon as an earlier one
    came back (at most `in_flight` on their way)."""
    def live_frame(request: dict) -> dict:  # a plain function: Gradio marks it as callable from the page
        return demo.live_frame(request)

    default = demo.live.processor.prior
    options = "".join(f'<option value="{name}"{" selected" if name == default else ""}>{label}</option>'
                      for label, name in demo.prior_choices())
    models = "".join(f'<option value="{name}">{name}</option>' for name in demo.model_choices())
    browser = browser_assets(demo.browser_folders(), lambda path: f"gradio_api/file={Path(path).resolve()}", page=PAGE)
    page = (PAGE / "webcam.html").read_text().format(
        width=webcam_width, limit=STREAM_TIME_LIMIT, in_flight=in_flight, keep=SMOOTHING, keep_max=SMOOTHING_MAX,
        info=SMOOTHING_INFO,
        prior_options=options, prior_info=PRIOR_INFO, model_options=models, browser=html.escape(json.dumps(browser)),
        saliency="" if demo.saliency_available else "disabled",
        saliency_note="runs on the server" if demo.saliency_available else html.escape(SALIENCY_MISSING))
    gr.HTML(html_template=page, css_template=(PAGE / "webcam.css").read_text(),
            js_on_load=(PAGE / "webcam.js").read_text(), server_functions=[live_frame], elem_id="webcam")


def _video_tab(demo: Demo) -> None:
    gr.Markdown(f"Upload a clip of up to {MAX_VIDEO_SECONDS} seconds (and the upload size limit above): every "
                "face is followed across frames; you get the annotated clip, each face's probabilities over time "
                "and a CSV with one row per face and frame.")
    with gr.Row():
        with gr.Column(scale=1):
            clip = gr.Video(label="Clip", sources=["upload"], elem_id="clip")
            every = gr.Slider(1, 10, value=1, step=1, label="Analyse every N-th frame")
            model = _model_control(demo, "video-model")
            prior = _prior_control(demo, "video-prior", model)
            button = gr.Button("Analyse the clip", variant="primary")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="video-status")
            annotated = gr.Video(label="Annotated", elem_id="annotated-video")
            timeline = gr.Image(label="Timeline", type="filepath", elem_id="timeline")
            table = gr.File(label="Results (CSV)", elem_id="video-csv")
    button.click(demo.video, [clip, every, prior, model], [annotated, timeline, table, status], api_name="video")


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description="Run the facial expression recognition demo.")
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME,
                        help="the model the page starts with: a shipped model's short name "
                             f"({', '.join(SHIPPED_MODELS)}), a model folder or a Hugging Face Hub id (the "
                             "other shipped models stay selectable; default: %(default)s)")
    parser.add_argument("--host", help="address to listen on (default: GRADIO_SERVER_NAME, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT, else the first free one "
                                                 "from 7860)")
    parser.add_argument("--share", action="store_true", default=None,
                        help="also serve through a public Gradio share link (default: GRADIO_SHARE, else no)")
    parser.add_argument("--webcam-in-flight", type=int, default=WEBCAM_IN_FLIGHT,
                        help="webcam frames on their way to the server at once (default: %(default)s)")
    parser.add_argument("--webcam-width", type=int, default=WEBCAM_WIDTH,
                        help="width in pixels of the webcam frames the browser sends (default: %(default)s)")
    parser.add_argument("--max-file-mb", type=float, default=MAX_FILE_MB,
                        help="largest upload accepted, in MB (default: %(default)s)")
    parser.add_argument("--cache-max-age", type=int, default=CACHE_MAX_AGE,
                        help="seconds before uploaded and generated files are deleted (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="a traceback instead of a one-line error")
    return parser.parse_args(argv)


def create(settings: argparse.Namespace) -> gr.Blocks:
    """The page for parse_args' `settings`: models loaded, tabs built, queued."""
    return build(Demo(settings.model, settings.cache_max_age), settings.max_file_mb, settings.cache_max_age,
                 settings.webcam_width, settings.webcam_in_flight)


def _stop_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # Gradio's block_thread closes the server on it


def launch(demo: gr.Blocks, settings: argparse.Namespace) -> None:
    """Serve the page until stopped. Stopping the app (Ctrl-C, or SIGTERM from a service manager)
    ends the server the same way, so Gradio deletes its cache, and the annotated copies of
    visitors' photos go at exit."""
    signal.signal(signal.SIGTERM, _stop_as_interrupt)
    demo.launch(server_name=settings.host, server_port=settings.port, share=settings.share, show_error=False,
                max_file_size=f"{settings.max_file_mb:g}mb")


def as_script(run: bool) -> gr.Blocks:
    """What an app.py file does (a checkout's, a Space's: fer_model.web.SPACE_APP): the page, as
    the module-level `demo` a Space finds, for the command line's options when `run` (the file
    runs as __main__, and the page is then served until stopped), else for the defaults."""
    settings = parse_args(sys.argv[1:] if run else [], prog="app.py")
    with reported_errors(settings.debug):  # a model that cannot be loaded: one line, exit 2
        demo = create(settings)
    if run:
        launch(demo, settings)
    return demo


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """`fer-model demo` and `python app.py`: the page for the command line's options, served."""
    settings = parse_args(sys.argv[1:] if argv is None else argv, prog)
    with reported_errors(settings.debug):  # a model that cannot be loaded: one line, exit 2
        demo = create(settings)
    launch(demo, settings)

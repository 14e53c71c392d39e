"""The page's side of the package: what the browser pipeline (page/fer/) needs from Python, and
`fer-model export-web`, a folder any static web server can host.

The browser runs the same two networks as Python: FERNet through the model folder's `model.onnx`
(whose weights are the folder's model.safetensors, fer_model.models.graph) and YuNet through
`detector/face_detection_yunet_2023mar_dynamic.onnx`, the shipped detector's graph with its input
dimensions made dynamic (`dynamic_yunet`; same weights, any input size, as OpenCV's
FaceDetectorYN feeds it). The detector settings come from Python (`detector_settings`), the model's
from its config.json and preprocessor_config.json.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .vision.detect import VIDEO_DETECT_SIDE, YUNET_FILE, YuNetFaceDetector
from .folder import CARD_NAME, GRAPH_NAME, MODEL_FILES, SHIPPED_MODELS

DYNAMIC_YUNET_FILE = YUNET_FILE.with_name("face_detection_yunet_2023mar_dynamic.onnx")
PAGE = Path(__file__).resolve().parent / "page"  # the page's files, installed with the package


def dynamic_yunet(source: str | os.PathLike = YUNET_FILE):
    """The YuNet graph of `source` with its input's height and width and its outputs' anchor counts
    made symbolic, so that onnxruntime takes any input size (a multiple of 32, as FaceDetectorYN
    pads to). Nodes and initializers are untouched; the stored intermediate shapes (inferred for
    640x640) are dropped."""
    import onnx

    model = onnx.load(str(source))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = f"anchors_{output.name.split('_')[1]}"
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def _defaults(cls) -> dict:
    """The default of each constructor argument of `cls`: the one record of those numbers."""
    import inspect

    return {name: p.default for name, p in inspect.signature(cls).parameters.items()}


def tracker_settings() -> dict:
    """The face tracker's defaults (fer_model.vision.tracking.FaceTracker), for the page's own tracker."""
    from .vision.tracking import FaceTracker

    defaults = _defaults(FaceTracker)
    return {"min_iou": defaults["min_iou"], "lost_frames": defaults["lost_frames"]}


def detector_settings(max_side: int | None = None, retry_pad: float | None = None) -> dict:
    """What the page's detector does as :class:`YuNetFaceDetector` does with its defaults, or with
    `max_side` and `retry_pad` given: the page reads these instead of copies of the numbers."""
    from .vision.detect import MIN_FACE_SIDE, NMS_IOU, TILE_ASPECT

    defaults = _defaults(YuNetFaceDetector)
    return {"score_threshold": defaults["score_threshold"], "nms_threshold": defaults["nms_threshold"],
            "top_k": defaults["top_k"], "max_side": defaults["max_side"] if max_side is None else max_side,
            "retry_pad": defaults["retry_pad"] if retry_pad is None else retry_pad,
            "tile_aspect": TILE_ASPECT, "min_face_side": MIN_FACE_SIDE, "tile_iou": NMS_IOU}


# The in-browser pipeline's files under page/ and what each model folder gives the page.
SCRIPTS = ("fer/preprocess.js", "fer/detect.js", "fer/processor.js", "fer/tracking.js", "fer/inference.js", "fer/worker.js", "fer/client.js", "fer/draw.js", "fer/camera.js")
VENDOR = "vendor/onnxruntime-web"
VENDOR_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm", "LICENSE", "VERSION")


def runs_in_browser(folder: str | os.PathLike) -> bool:
    """Whether the page can run a model folder as Python does: every file it reads is there
    (folders saved before model.onnx have none) and its processor asks for nothing the page lacks
    (:func:`browser_limits`)."""
    return all((Path(folder) / name).is_file() for name in MODEL_FILES) and not browser_limits(folder)


def browser_limits(folder: str | os.PathLike) -> list[str]:
    """What of a model folder's processor the page cannot do (there the server path runs): the
    page has no eye levelling."""
    from .processing.processor import FaceProcessor

    return ["align_eyes (eye levelling)"] if FaceProcessor.from_pretrained(folder).align_eyes else []


def processor_settings(folder: str | os.PathLike) -> dict:
    """The processor's settings as the page receives them: FaceProcessor.to_dict() of the loaded
    folder, every default resolved by Python (a folder saved before a key existed reads the same
    in the page as in Python)."""
    from .processing.processor import FaceProcessor

    return FaceProcessor.from_pretrained(folder).to_dict()


def content_version(*paths: Path) -> str:
    """A short hash of the files' contents: the page puts it in their URLs, so its cache never
    serves an old file under a new name."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def browser_assets(models: dict[str, str | os.PathLike], url: "callable", page: Path = PAGE,
                   yunet: Path = DYNAMIC_YUNET_FILE) -> dict:
    """What the page's worker loads (page/fer/worker.js): onnxruntime-web, YuNet's dynamic graph,
    each model folder that runs in the browser, and the detector settings of the webcam and of
    photos, with `url(path)` giving the address the page fetches a local path from."""
    from .vision.render import FACE_COLOURS, MAX_FACES

    vendor = page / VENDOR
    folders = {name: Path(folder) for name, folder in models.items() if runs_in_browser(folder)}
    return {
        "worker": url(page / "fer" / "worker.js"), "client": url(page / "fer" / "client.js"),
        "draw": url(page / "fer" / "draw.js"), "camera": url(page / "fer" / "camera.js"),
        "colours": [list(colour) for colour in FACE_COLOURS],
        "priorLabels": PRIOR_LABELS, "smoothing": SMOOTHING, "smoothingMax": SMOOTHING_MAX, "maxFaces": MAX_FACES,
        "descriptions": {name: SHIPPED_MODELS[name] for name in models if name in SHIPPED_MODELS},
        "assets": {
            "vendor": url(vendor) + "/",
            "version": content_version(*(vendor / name for name in VENDOR_FILES[:3])),
            "yunet": f"{url(yunet)}?v={content_version(yunet)}",
            "models": {name: {"folder": url(folder) + "/", "version": content_version(*(folder / f for f in MODEL_FILES)),
                              "processor": processor_settings(folder)}
                       for name, folder in folders.items()},
            "detector": {"webcam": detector_settings(VIDEO_DETECT_SIDE, 0), "photo": detector_settings()},
            "tracker": tracker_settings(),
            "model_files": list(MODEL_FILES),  # what a model folder gives the page (its cache keeps these)
        },
    }


# What the page shows, handed over with the assets (the page retypes none of it).
PRIOR_LABELS = {"trained": "As trained", "balanced": "Balanced", "everyday": "Everyday"}
SMOOTHING = 0.6  # default weight of the past in the live bars' moving average
SMOOTHING_MAX = 0.9  # the slider's largest weight (the app clamps what a page sends to it)
WEBCAM_PRIOR = "balanced"  # someone in front of a camera shows each expression on purpose (app.py's default too)
WEBCAM_WIDTH = 640  # pixels wide the page reads camera frames at


def export_web(models: list[str], out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a folder that any static web server can host: `index.html` (the live webcam and a
    photo drop), its scripts, onnxruntime-web, YuNet's dynamic graph and each model's files
    (`models/NAME/`), with `settings.json` naming them by relative path. Returns the folder.
    `models`: folders or shipped models' short names. Refuses a non-empty `out` unless `overwrite`."""
    from .errors import ModelLoadError
    from .folder import resolve_model

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; choose another folder or pass --overwrite")
    folders = {}
    for model in models:
        folder = Path(resolve_model(model))
        if folder.is_dir() and all((folder / name).is_file() for name in MODEL_FILES) and browser_limits(folder):
            raise ModelLoadError(f"{model}: its processor uses {', '.join(browser_limits(folder))}, which the page "
                                 "cannot do; the app runs such a model on its server path")
        if not folder.is_dir() or not runs_in_browser(folder):
            missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
            raise ModelLoadError(f"{model}: not a local model folder with {', '.join(MODEL_FILES)} (missing: "
                                 f"{', '.join(missing) or 'the folder'}); save it again with this release to get "
                                 f"{GRAPH_NAME}")
        folders[folder.name if model == str(folder) else model] = folder
    copies = [(PAGE / "standalone.html", out / "index.html"), (PAGE / "standalone.js", out / "standalone.js")]
    copies += [(PAGE / script, out / script) for script in SCRIPTS]
    copies += [(PAGE / VENDOR / name, out / VENDOR / name) for name in VENDOR_FILES]
    copies += [(DYNAMIC_YUNET_FILE, out / "detector" / DYNAMIC_YUNET_FILE.name),
               (YUNET_FILE.with_name("LICENSE"), out / "detector" / "LICENSE")]
    for name, folder in folders.items():
        copies += [(folder / file, out / "models" / name / file) for file in (*MODEL_FILES, CARD_NAME)
                   if (folder / file).is_file()]
    for source, target in copies:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    settings = browser_assets({name: out / "models" / name for name in folders},
                              lambda path: Path(path).relative_to(out).as_posix(), page=out,
                              yunet=out / "detector" / DYNAMIC_YUNET_FILE.name)
    settings.update(width=WEBCAM_WIDTH, webcamPrior=WEBCAM_PRIOR)
    (out / "settings.json").write_text(json.dumps(settings, indent=2))
    return out


SPACE_SKIPPED = ("__pycache__", "*.pyc", "*.egg-info")  # not copied with the package
# The app file of a Space (and of a checkout: app.py is this text); the demo itself is fer_model.app.
SPACE_APP = '''"""The fer_model demo (fer_model/app.py): `python app.py [--model ...]`, a Space's app file."""

from fer_model.app import as_script

demo = as_script(__name__ == "__main__")
'''


def space_requirements(checkout: Path = PAGE.parent.parent) -> list[str]:
    """The torch-free install's requirements (the package's own and the app extra), read from
    pyproject.toml in a checkout, else from the installed package's metadata, so that the Space and
    `pip install .[app]` never drift apart."""
    pyproject = checkout / "pyproject.toml"
    if pyproject.is_file():
        try:
            import tomllib
        except ImportError:  # Python 3.10: tomli, a dependency there
            import tomli as tomllib
        project = tomllib.loads(pyproject.read_text())["project"]
        return [*project["dependencies"], *project["optional-dependencies"]["app"]]
    from importlib.metadata import requires

    wanted = []
    for requirement in requires("fer_model") or []:
        spec, _, marker = requirement.partition(";")
        if not marker.strip() or marker.replace(" ", "").replace("'", '"') == 'extra=="app"':
            wanted.append(spec.strip())
        elif "python_version" in marker and "extra" not in marker:
            wanted.append(requirement.strip())
    return wanted


def export_space(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a folder that a Hugging Face Space (sdk: gradio) runs as it is: README.md with the
    Space's front matter, app.py (SPACE_APP), the fer_model package with its page and shipped
    models, and a requirements.txt without PyTorch (the demo runs on onnxruntime; Grad-CAM is off
    there). Works from a checkout and from an installed package alike."""
    import gradio

    from .folder import CHECKOUT, PACKAGE

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; choose another folder or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PACKAGE, out / PACKAGE.name, ignore=shutil.ignore_patterns(*SPACE_SKIPPED), dirs_exist_ok=True)
    (out / "app.py").write_text(SPACE_APP)
    (out / "requirements.txt").write_text("\n".join(space_requirements(CHECKOUT)) + "\n")
    front = {"title": "fer_model facial expressions", "sdk": "gradio", "sdk_version": gradio.__version__,
             "app_file": "app.py", "python_version": "3.11", "license": "mit", "pinned": False}
    lines = [f"{key}: {json.dumps(value)}" for key, value in front.items()]
    (out / "README.md").write_text("---\n" + "\n".join(lines) + "\n---\n\n# Facial expression recognition\n\n"
                                   "The fer_model demo: a small CNN reads each face as one of seven expressions. "
                                   "Predictions run on onnxruntime (no PyTorch); the webcam runs in the visitor's "
                                   "browser.\n")
    return out

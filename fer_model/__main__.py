"""`fer-model predict` (also `python -m fer_model predict`): expressions over images, folders and videos.

    fer-model predict photos/ interview.mp4 --out results.csv --every 2 --annotate annotated/

One row per face: source, frame index and time (videos), a face number (from 1) that follows the
same face across frames, whether a face was found (else the whole image was classified), its box,
the detector's score and five landmarks (eyes, nose tip, mouth corners: x and y each), the top
label and its score, and one column per label. Each video also gets a timeline PNG beside
the output (probability of each label over time, per face). A file that cannot be read is named in
one line and skipped.

Exit status: 0 when something was processed; 1 when every input failed to read; 2 for a mistake
on the command line (a bad option, an input path that does not exist, an output that would replace
an earlier run's file without --overwrite).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .vision.detect import VIDEO_DETECT_SIDE
from .cli import run as run_cli
from .errors import DEBUG_HELP
from .folder import DEFAULT_MODEL_NAME, SHIPPED_MODELS
from .processing.processor import parse_prior


def program_name() -> str:
    """The name this command was called by: `fer-model`, or `python -m fer_model`."""
    called = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m fer_model" if called in ("", "__main__.py", "-c", "-m") else called


OVERVIEW = """Facial expressions with fer_model: predict over images, folders and videos, run the demo, set
a model's inference settings, export it (ONNX, a static web page, a Space), re-render its card,
publish it.

    fer-model predict photos/ interview.mp4 --out results.csv
    fer-model demo                  # the browser demo on http://127.0.0.1:7860
    fer-model COMMAND --help        # each command's options
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=program_name(), description=OVERVIEW,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    predict = commands.add_parser("predict", help="expressions of every face in images, folders and videos",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (searched recursively), videos")
    predict.add_argument("--out", required=True, help="results file: CSV, JSON with --json, Parquet for a .parquet name")
    predict.add_argument("--json", action="store_true", help="write JSON records instead of CSV")
    predict.add_argument("--overwrite", action="store_true",
                         help="replace the results, timelines and annotated files of an earlier run with the same names")
    sampling = predict.add_mutually_exclusive_group()
    sampling.add_argument("--every", type=int, default=1, help="analyse every N-th video frame (default: every frame)")
    sampling.add_argument("--fps", type=float, help="analyse about this many video frames per second")
    predict.add_argument("--smoothing", type=float, default=0.0,
                         help="weight of the past in a per-face moving average over video frames (default: 0, none)")
    predict.add_argument("--annotate", metavar="DIR", help="write annotated images and videos here")
    predict.add_argument("--landmarks", action="store_true",
                         help="mark the detector's five landmarks (eyes, nose tip, mouth corners) on annotated images")
    predict.add_argument("--video-detect-side", type=int, default=VIDEO_DETECT_SIDE,
                         help="video frames are searched for faces at this longer side (default: %(default)s, "
                              "which finds faces of about 20 px and more in a 640x480 frame; raise it for smaller ones)")
    predict.add_argument("--model", help=f"a shipped model's short name ({', '.join(SHIPPED_MODELS)}), a model folder "
                                          f"or a Hub id (default: {DEFAULT_MODEL_NAME})")
    predict.add_argument("--prior", type=parse_prior, metavar="PRIOR",
                         help="class prior assumed for the faces: trained, balanced, everyday, or one probability "
                              "per label, comma-separated (default: the model's, from preprocessor_config.json)")
    predict.add_argument("--quiet", action="store_true", help="no progress bars")
    commands.add_parser("demo", add_help=False,  # its options are the demo's own (main hands them over)
                        help="run the demo in the browser: upload, webcam (read in the visitor's browser), video "
                             "(`fer-model demo --help`; needs fer_model[app])")
    configure = commands.add_parser(
        "configure", help="set a saved model's inference settings (preprocessor_config.json)",
        description="Set the crop and test-time views chosen for a saved model (bench/choose_views.py "
                    "compares them) or its default class prior, in its preprocessor_config.json.")
    configure.add_argument("folder", help="a saved model folder or a shipped model's short name")
    configure.add_argument("--crop-scale", type=float, help="side of the face crop relative to the detector's box")
    configure.add_argument("--crop-shift", help="x,y offset of the crop's centre from the box's, in box sides")
    configure.add_argument("--align-eyes", action=argparse.BooleanOptionalAction,
                           help="turn each crop so that the eye landmarks are level")
    configure.add_argument("--tta-scales", help="comma-separated crop scales whose probabilities are averaged")
    configure.add_argument("--tta-flip", action=argparse.BooleanOptionalAction, help="also average the mirror images")
    configure.add_argument("--prior", type=parse_prior, help="default class prior: trained, balanced, everyday or a list")
    export = commands.add_parser(
        "export", help="write a model's network as one self-contained ONNX file beside copies of its configs "
                       "(needs fer_model[torch])",
        description="Write MODEL's network as OUT/model.onnx (one self-contained file, dynamic batch) beside copies "
                    "of its config.json, preprocessor_config.json, weights and card: a complete model folder that "
                    "EmotionRecognizer.from_pretrained(OUT, backend='onnx') runs through onnxruntime. Needs "
                    "PyTorch (pip install fer_model[torch]).")
    export.add_argument("model", help=f"a model folder or a shipped model's short name ({', '.join(SHIPPED_MODELS)})")
    export.add_argument("--out", required=True, help="output folder (new or empty)")
    export.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    card = commands.add_parser(
        "card", help="re-render a model folder's card from its metrics.json (measures nothing)",
        description="Re-render MODEL/README.md (and a copy) from the metrics.json that evaluate.py --update-model "
                    "wrote there, after a change to the card's template; measures nothing.")
    card.add_argument("model", help="a model folder evaluated with evaluate.py --update-model")
    card.add_argument("--card", help="also write the card here (e.g. model_card.md)")
    web = commands.add_parser(
        "export-web", help="write a static web page that runs the webcam and photos in the browser",
        description="Write DIR/index.html with the live webcam and a photo drop, its scripts, onnxruntime-web, the "
                    "face detector and the models' files: a folder that any static web server hosts (python -m "
                    "http.server, a static Space); every frame and photo is read in the visitor's browser.")
    web.add_argument("model", nargs="+", help="model folders or shipped models' short names (the first is the default)")
    web.add_argument("--out", required=True, help="output folder (new or empty)")
    web.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    space = commands.add_parser(
        "export-space", help="write a folder a Hugging Face Space runs as it is (the demo without PyTorch)",
        description="Write DIR with the Space's README.md front matter (sdk: gradio, app_file), app.py, page/, the "
                    "package with its shipped models and a requirements.txt without PyTorch; push DIR to a Space "
                    "repo (or run `python app.py` there).")
    space.add_argument("--out", required=True, help="output folder (new or empty)")
    space.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    push = commands.add_parser("push", help="publish a model folder to a Hugging Face Hub model repo "
                                            "(weights, configs, card, figures, model.onnx if there)",
                               description="Load the folder (so a broken model is never published), check its "
                                           "card, create the repo if needed and upload.")
    push.add_argument("folder", help="model folder or a shipped model's short name (config.json, "
                                     "preprocessor_config.json, model.safetensors, model.onnx, "
                                     "README.md)")
    push.add_argument("repo_id", help="Hub repo id, e.g. your-name/fernet-ferplus")
    push.add_argument("--private", action="store_true", help="create the repo as private")
    predict.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                         help="run on Ray Data: a pool of actors, one recognizer each, over the files and ranges of "
                              "video frames; ADDRESS of a running cluster (`ray start --head` there), or none to "
                              "start Ray on this machine (needs fer_model[ray])")
    predict.add_argument("--workers", type=int, help="with --ray: actors in the pool (default: one per CPU)")
    predict.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto",
                         help="run the network through torch, or through onnxruntime (the folder's model.onnx); "
                              "auto: torch where it is installed (default: %(default)s)")
    for command in commands.choices.values():  # read by cli.run before parsing; listed for --help
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    args = parser.parse_args(argv)
    if args.command != "predict":
        return args
    if args.ray is not None and args.annotate:
        parser.error("--annotate writes files on the machine that predicts; run it without --ray")
    if args.workers is not None and (args.ray is None or args.workers < 1):
        parser.error("--workers needs --ray and at least 1")
    if args.every < 1 or (args.fps is not None and args.fps <= 0):
        parser.error("--every must be at least 1 and --fps positive")
    if not 0 <= args.smoothing < 1:
        parser.error(f"--smoothing must be in [0, 1), not {args.smoothing}")
    return args


def main(argv: list[str] | None = None) -> int:
    from .pipelines.batch import (BatchPredictor, check_output, collect_inputs, frame_recognizer, planned_outputs, plot_timeline,
                        rescue_rows, run, write_rows)
    from .pipelines.inference import EmotionRecognizer

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:  # the demo parses its own options (fer_model.app, as app.py does)
        from .app import main as demo_main

        demo_main(argv[1:], prog=f"{program_name()} demo")
        return 0
    args = parse_args(argv)
    if args.command == "push":
        from .models.hub import push

        from .folder import resolve_model

        print(push(resolve_model(args.folder), args.repo_id, private=args.private))
        return 0
    if args.command == "export":
        from .cli import require_torch

        require_torch("fer-model export")
        from .models.export import export_onnx

        print(f"wrote {export_onnx(args.model, args.out, args.overwrite)}")
        return 0
    if args.command == "card":
        from .card import rerender_card

        print(f"wrote {rerender_card(args.model, args.card)}")
        return 0
    if args.command == "export-web":
        from .web import export_web

        out = export_web(args.model, args.out, args.overwrite)
        print(f"wrote {out}; serve it with: python -m http.server --directory {out}")
        return 0
    if args.command == "export-space":
        from .web import export_space

        print(f"wrote {export_space(args.out, args.overwrite)}; push it to a Space repo, or try it: cd {args.out} "
              "&& python app.py")
        return 0
    if args.command == "configure":
        from .processing.processor import update_processor

        changes = {"crop_scale": args.crop_scale, "tta_flip": args.tta_flip, "prior": args.prior,
                   "align_eyes": args.align_eyes,
                   "crop_shift": _numbers(args.crop_shift, "--crop-shift", "x,y") if args.crop_shift else None,
                   "tta_scales": _numbers(args.tta_scales, "--tta-scales", "scales") if args.tta_scales else None}
        from .folder import resolve_model

        print(update_processor(resolve_model(args.folder),
                               **{key: value for key, value in changes.items() if value is not None}))
        return 0
    missing = [path for path in args.inputs if not os.path.exists(path)]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    out = Path(args.out)
    check_output(out)
    files, problems = collect_inputs(args.inputs)
    timelines, annotated = planned_outputs(files, out, args.annotate)
    existing = [str(path) for path in [out, *timelines.values(), *annotated] if path.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''} already exist(s) from "
                              "an earlier run; pass --overwrite to replace them, or another --out / --annotate")
    recognizer = EmotionRecognizer.from_pretrained(args.model, prior=args.prior, backend=args.backend)
    predictor = BatchPredictor(recognizer, every=args.every, smoothing=args.smoothing, annotate=args.annotate,
                               fps=args.fps, video_recognizer=frame_recognizer(recognizer, args.video_detect_side),
                               landmarks=args.landmarks)
    if args.ray is not None:
        from .pipelines.distributed import run_on_ray

        rows, summary = run_on_ray(predictor, files, args.model, args.prior, args.backend, args.video_detect_side,
                                   args.ray or None, args.workers)
        for source, reason in problems.items():
            summary.failed[source] = reason
            print(f"skipped {source}: {reason}", file=sys.stderr)
    else:
        rows, summary = run(predictor, args.inputs, progress=not args.quiet)
    if summary.files:
        try:
            write_rows(rows, recognizer.labels, out, as_json=args.json)
        except (OSError, ImportError, ValueError) as error:  # the work is done: keep its rows
            rescued = rescue_rows(rows, recognizer.labels, out)
            print(f"error: could not write {out} ({type(error).__name__}: {error}); the {len(rows)} rows are in "
                  f"{rescued}", file=sys.stderr)
            return 1
        for video, target in timelines.items():
            found = [row for row in rows if row.source == str(video)]
            if str(video) not in summary.failed:
                plot_timeline(found, recognizer.labels, target, title=video.name)
    faces = sum(row.face.face_found for row in rows)
    print(f"{summary.files} file(s), {summary.frames} image(s) or frame(s), {faces} face(s) found"
          + (f", {len(rows) - faces} image(s) without a face classified whole" if len(rows) > faces else "")
          + (f", {len(summary.failed)} skipped" if summary.failed else "")
          + (f"; wrote {out}" if summary.files else "; nothing written"), file=sys.stderr)
    return 0 if summary.files else 1


def _numbers(text: str, flag: str, what: str) -> list[float]:
    """Comma-separated numbers of an option; a ProcessorError names the option and the value."""
    from .errors import ProcessorError

    try:
        return [float(value) for value in text.split(",")]
    except ValueError:
        raise ProcessorError(f"{flag} takes comma-separated numbers ({what}), not {text!r}") from None


def console() -> None:
    """The `fer-model` command."""
    run_cli(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    console()

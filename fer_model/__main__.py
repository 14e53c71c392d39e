"""`python -m fer_model predict` (also the `fer-model` command): expressions over images, folders and videos.

    python -m fer_model predict photos/ interview.mp4 --out results.csv --every 2 --annotate annotated/

One row per face: source, frame index and time (videos), a face id that follows the same face
across frames, its box, the top label and its score, and one column per label. Each video also
gets a timeline PNG beside the output (probability of each label over time, per face). A file
that cannot be read is named in a warning and in the summary, and the rest is still processed;
the exit status is 1 only when nothing could be processed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .batch import VIDEO_DETECT_SIDE
from .cli import run as run_cli


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fer_model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="expressions of every face in images, folders and videos")
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (searched recursively), videos")
    predict.add_argument("--out", required=True, help="results file (CSV, or JSON with --json)")
    predict.add_argument("--json", action="store_true", help="write JSON records instead of CSV")
    sampling = predict.add_mutually_exclusive_group()
    sampling.add_argument("--every", type=int, default=1, help="analyse every N-th video frame (default: every frame)")
    sampling.add_argument("--fps", type=float, help="analyse about this many video frames per second")
    predict.add_argument("--smoothing", type=float, default=0.0,
                         help="weight of the past in a per-face moving average over video frames (default: 0, none)")
    predict.add_argument("--annotate", metavar="DIR", help="write annotated images and videos here")
    predict.add_argument("--video-detect-side", type=int, default=VIDEO_DETECT_SIDE,
                         help="video frames are searched for faces at this longer side (default: %(default)s, "
                              "which finds faces of 48 px and more in a 640x480 frame; raise it for small faces)")
    predict.add_argument("--model", help="model folder or Hub id (default: the shipped model)")
    predict.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.every < 1 or (args.fps is not None and args.fps <= 0):
        parser.error("--every must be at least 1 and --fps positive")
    return args


def main(argv: list[str] | None = None) -> int:
    from .batch import VIDEO_SUFFIXES, BatchPredictor, frame_recognizer, plot_timeline, run, write_rows
    from .inference import EmotionRecognizer

    args = parse_args(sys.argv[1:] if argv is None else argv)
    recognizer = EmotionRecognizer.from_pretrained(args.model)
    predictor = BatchPredictor(recognizer, every=args.every, smoothing=args.smoothing, annotate=args.annotate,
                               fps=args.fps, video_recognizer=frame_recognizer(recognizer.model, args.video_detect_side))
    rows, summary = run(predictor, args.inputs, progress=not args.quiet)
    out = Path(args.out)
    if summary.files:
        write_rows(rows, recognizer.labels, out, as_json=args.json)
        for video in sorted({row.source for row in rows if Path(row.source).suffix.lower() in VIDEO_SUFFIXES}):
            plot_timeline([row for row in rows if row.source == video], recognizer.labels,
                          out.with_name(f"{out.stem}.{Path(video).stem}.timeline.png"), title=Path(video).name)
    print(f"{summary.files} file(s), {summary.frames} image(s) or frame(s), {summary.faces} face(s)"
          + (f"; wrote {out}" if summary.files else "; nothing written"), file=sys.stderr)
    for source, reason in summary.failed.items():
        print(f"  failed: {source}: {reason}", file=sys.stderr)
    return 0 if summary.files else 1


def console() -> None:
    """The `fer-model` command."""
    run_cli(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    console()

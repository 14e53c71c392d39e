"""Choose the face crop and test-time views of a model: measure each candidate on PublicTest
(clean and under the framing perturbations a detector brings) and on the wild_faces photos
through the detector, side by side in one run; several models are measured one after the other
on the same detections.

    python bench/choose_views.py --model fer_model/pretrained/fernet-fer2013
    python bench/choose_views.py --model fer_model/pretrained/fernet-fer2013 runs/other

PrivateTest is never read. Faces are detected once per photo; every candidate reuses the boxes.
The chosen candidate is printed: the best wild_faces balanced accuracy (the mean recall over
labels: wild_faces is 68% happy and neutral, while people's photos of posed expressions are often
balanced) among those whose clean PublicTest accuracy is within 0.5 point of the best. Store it
in a model folder with `fer_model.processing.processor.update_processor(folder, crop_scale=..., ...)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_model import EmotionRecognizer, YuNetFaceDetector, default_data_path, load_fer2013  # noqa: E402
from fer_model.data.fer2013 import default_wild_path  # noqa: E402
from fer_model.evaluation.metrics import classification_metrics  # noqa: E402
from fer_model.pipelines.inference import EmotionRecognizer, load_pretrained  # noqa: E402
from fer_model.evaluation.robustness import load_labelled_photos, robustness_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WILD = default_wild_path()
CROP_SCALES = [0.9, 1.0, 1.1, 1.2, 1.3]
VIEWS = {"single crop": ([1.0], False), "flip": ([1.0], True), "flip + 3 crops": ([1.0, 0.9, 1.1], True)}
FRAMING = ["clean", "zoom out 20%", "zoom in 20%", "shift 10% (x)", "shift 10% (y)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["fer_model/pretrained/fernet-fer2013"], help="model folders")
    parser.add_argument("--data", default=str(default_data_path()))
    parser.add_argument("--wild", default=str(WILD))
    args = parser.parse_args()
    models = [load_pretrained(path) for path in args.model]
    public = load_fer2013(args.data).split("PublicTest")
    paths, wild_labels = load_labelled_photos(args.wild, models[0][0].labels)
    detector = YuNetFaceDetector()
    finder = EmotionRecognizer(*models[0], detector=detector)
    found = [finder.find_faces(path) for path in paths]  # as predict reads and searches each photo
    grays, boxes = [gray for gray, _ in found], [faces[:1] for _, faces in found]
    print(f"wild_faces: {len(paths)} photos, a face detected in {np.mean([bool(b) for b in boxes]):.1%}", flush=True)
    for path, (model, processor) in zip(args.model, models):
        print(f"model {path}", flush=True)
        chosen = choose(model, processor, public, grays, boxes, wild_labels, detector)
        scales, flip = VIEWS[chosen["views"]]
        print(f"chosen: {chosen}, i.e. crop_scale={chosen['crop_scale']}, tta_scales={scales}, tta_flip={flip}",
              flush=True)


def choose(model, processor, public, grays: list[np.ndarray], boxes: list, wild_labels: np.ndarray, detector) -> dict:
    """Measure every crop and view candidate of `model`; return the chosen one (see the docstring)."""
    rows = []
    for views, (scales, flip) in VIEWS.items():
        candidate = dataclasses.replace(processor, tta_scales=scales, tta_flip=flip)
        framing = robustness_table(model, candidate, public.images, public.labels, names=FRAMING)
        for crop_scale in CROP_SCALES:
            recognizer = EmotionRecognizer(model, dataclasses.replace(candidate, crop_scale=crop_scale), detector)
            predicted = [recognizer.predict_boxes(gray, box)[0].label for gray, box in zip(grays, boxes)]
            wild = classification_metrics(wild_labels, np.array([model.labels.index(p) for p in predicted]), model.labels)
            rows.append({"views": views, "crop_scale": crop_scale, "public": framing["clean"]["accuracy"],
                         "public_framing": framing["mean of perturbed"]["accuracy"],
                         "wild_accuracy": wild["accuracy"], "wild_macro_f1": wild["macro_f1"],
                         "wild_balanced": wild["balanced_accuracy"]})
            print(f"{views:15s} crop {crop_scale:.1f}  PublicTest {rows[-1]['public']:.4f}  "
                  f"framing-perturbed {rows[-1]['public_framing']:.4f}  wild_faces accuracy "
                  f"{wild['accuracy']:.4f} macro-F1 {wild['macro_f1']:.4f} balanced {wild['balanced_accuracy']:.4f}",
                  flush=True)
    best_public = max(row["public"] for row in rows)
    return max((row for row in rows if row["public"] >= best_public - 0.005), key=lambda row: row["wild_balanced"])


if __name__ == "__main__":
    main()

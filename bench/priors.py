"""Compare models under each class prior, side by side in one run: PublicTest on the original
FER-2013 labels and on the FER+ crowd majority (the model alone and the default path), and the
wild_faces photos through the detector (faces detected once, shared by every model and prior).

    python bench/priors.py fer_model/pretrained/fernet-fer2013 runs/candidate

PrivateTest is never read: this is where models and priors are chosen.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from fer_model import EmotionRecognizer, YuNetFaceDetector, default_data_path, load_fer2013  # noqa: E402
from fer_model.data.fer2013 import default_wild_path  # noqa: E402
from fer_model.evaluation.metrics import classification_metrics, crowd_metrics  # noqa: E402
from fer_model.data.ferplus import default_ferplus_path, load_ferplus  # noqa: E402
from fer_model.pipelines.inference import load_pretrained, predict_logits  # noqa: E402
from fer_model.evaluation.robustness import load_labelled_photos  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="saved model folders")
    parser.add_argument("--data", default=str(default_data_path()))
    parser.add_argument("--ferplus", default=str(default_ferplus_path()))
    parser.add_argument("--wild", default=str(default_wild_path()))
    args = parser.parse_args()
    public = load_ferplus(args.ferplus, load_fer2013(args.data)).split("PublicTest")
    loaded = [load_pretrained(path) for path in args.models]
    labels = loaded[0][0].labels
    paths, wild_labels = load_labelled_photos(args.wild, labels)
    detector = YuNetFaceDetector()
    finder = EmotionRecognizer(*loaded[0], detector=detector)
    found = [finder.find_faces(path) for path in paths]  # as predict reads and searches each photo
    grays, boxes = [gray for gray, _ in found], [faces[:1] for _, faces in found]
    print(f"PublicTest {len(public)} rows ({(public.crowd_majority >= 0).sum()} with a FER+ majority); wild_faces "
          f"{len(paths)} photos, a face detected in {np.mean([bool(b) for b in boxes]):.1%}", flush=True)
    header = f"{'model':<38} {'prior':<9} {'path':<8} {'orig acc':>8} {'orig F1':>8} {'FER+ acc':>8} {'FER+ F1':>8}"
    print(header + f" {'wild acc':>8} {'wild F1':>8} {'wild bal':>8}")
    for path, (model, processor) in zip(args.models, loaded):
        # each model's logits once (PublicTest one crop and all views, every photo's views); the
        # priors only change how they become probabilities (FaceProcessor.probabilities, as predict does)
        alone_logits = predict_logits(model, processor.single_view().crop_inputs(public.images))
        views_logits = predict_logits(model, processor.crop_inputs(public.images))
        photo_logits = [predict_logits(model, processor(gray, box).pixel_values) for gray, box in zip(grays, boxes)]
        for prior in processor.prior_names():
            under = processor.with_prior(prior)
            for name, views, logits in (("alone", under.single_view(), alone_logits), ("default", under, views_logits)):
                probabilities = views.probabilities(logits)
                orig = classification_metrics(public.labels, probabilities.argmax(1), labels)
                crowd = crowd_metrics(probabilities, public, labels)
                line = (f"{path[-38:]:<38} {prior:<9} {name:<8} {orig['accuracy']:8.4f} {orig['macro_f1']:8.4f} "
                        f"{crowd['accuracy']:8.4f} {crowd['macro_f1']:8.4f}")
                if name == "default":  # the photos through the default path
                    predicted = np.array([under.probabilities(logits).argmax(1)[0] for logits in photo_logits])
                    wild = classification_metrics(wild_labels, predicted, labels)
                    line += f" {wild['accuracy']:8.4f} {wild['macro_f1']:8.4f} {wild['balanced_accuracy']:8.4f}"
                print(line, flush=True)

if __name__ == "__main__":
    main()

"""The model card: YAML metadata from huggingface_hub's ModelCardData, body from a Jinja template,
every number read from the files evaluate.py and train.py wrote."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .folder import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, atomic_write
from .models.architecture import ARCHITECTURE_DEFAULTS, describe
from .models.fernet import HUB_METADATA
from .training.records import read_training
from .training.config import SELECTIONS, selection_score, teacher_list

TEMPLATE = Path(__file__).with_name("card_template.md")
DATASET = {"dataset_type": "fer2013", "dataset_name": "FER-2013"}


def card_data(results: dict, model_name: str) -> ModelCardData:
    split = results["split"]
    common = {"task_type": "image-classification", "task_name": "Facial expression recognition",
              "dataset_split": split, **DATASET}
    evals = [
        EvalResult(metric_type="accuracy", metric_name="Accuracy", metric_value=round(results["accuracy"], 4), **common),
        EvalResult(metric_type="f1", metric_name="Macro F1", metric_args={"average": "macro"},
                   metric_value=round(results["macro_f1"], 4), **common),
    ]
    crowd = results.get("ferplus", {}).get(split)
    if crowd:  # the same faces against the FER+ crowd's majority label
        common = {**common, "dataset_type": "ferplus", "dataset_name": "FER+ (FER-2013 relabelled by ten annotators)"}
        evals += [
            EvalResult(metric_type="accuracy", metric_name="Majority accuracy", metric_value=round(crowd["accuracy"], 4),
                       **common),
            EvalResult(metric_type="f1", metric_name="Macro F1", metric_args={"average": "macro"},
                       metric_value=round(crowd["macro_f1"], 4), **common),
        ]
    return ModelCardData(
        model_name=model_name, license=HUB_METADATA["license"], library_name=HUB_METADATA["library_name"],
        pipeline_tag=HUB_METADATA["pipeline_tag"], tags=[*HUB_METADATA["tags"], "pytorch", "safetensors"],
        datasets=["fer2013", "ferplus"] if crowd else ["fer2013"], metrics=["accuracy", "f1"], eval_results=evals,
    )



# The last commit whose train.py drew all randomness from one seed (runs recorded before it need it).
OLD_STREAMS_COMMIT = "dddb0e6"
# Options of train.py that were renamed: a record written before names the old one.
RENAMED_OPTIONS = {"crop_scale": "crop_area"}


def train_command(config: dict) -> str:
    """The train.py command line that reproduces a run from its saved config (every recipe option spelled out)."""
    not_options = {"data", "ferplus", "resume", "cache_dir", "threads", "stop_after", "device", "limit", "world_size",
                   "train_rows", "val_rows", "autocast", "init_from_training_config", "teacher_training_configs",
                   "random_streams", "weight_average", "soup"}
    parts = ["python train.py"]
    for key, value in config.items():
        if key in not_options or value is None:
            continue
        key = RENAMED_OPTIONS.get(key, key)
        flag = "--" + key.replace("_", "-")
        parts.append(flag if value is True else f"--no-{flag[2:]}" if value is False else f"{flag} {value}")
    return " ".join(parts)


def stages(training: dict) -> list[dict]:
    """The training configs behind a model, first stage first (each --init-from run records the
    config of the run it started from)."""
    chain = []
    while training:
        chain.insert(0, training)
        training = training.get("init_from_training_config")
    return chain


COPY = "{config.json,preprocessor_config.json,model.safetensors,training_config.json,*.csv,*.png}"


def _teachers(stage: dict) -> list[tuple[str, dict | None]]:
    """(path, training config or None) of each --teacher model of a stage."""
    return list(zip(teacher_list(stage.get("teacher")), stage.get("teacher_training_configs") or []))


def _copy(source: str, target: str) -> str:
    return f"mkdir -p {target} && cp {source}/{COPY} {target}/"


def _soup(soup: dict | None) -> list[tuple[str, dict | None]]:
    """(path, training config or None) of each model soup.py averaged into these weights."""
    soup = soup or {}
    return list(zip(soup.get("models", []), soup.get("training_configs") or []))


def _copies(models: list[tuple[str, dict | None]]) -> list[str]:
    """The copies that put models trained elsewhere where a command reads them."""
    return [_copy(record["out"], path) for path, record in models if record and Path(record["out"]) != Path(path)]


def reproduce_commands(chain: list[dict], soup: dict | None = None) -> list[str]:
    """train.py commands for every run behind the weights (see :func:`lineage`: a teacher or averaged
    model from another lineage brings its own stages first), with the copies a stage needs when it
    started from, or distilled from, folders other than the runs' own outputs; then soup.py's
    command, if the weights are an average of models. Each command appears once."""
    commands = []

    def add(needs: list[str], command: str) -> None:
        commands.extend(need for need in dict.fromkeys(needs + [command]) if need not in commands)

    for stage in lineage(chain, soup):
        previous = stage.get("init_from_training_config")
        needs = []
        if previous and stage.get("init_from") and Path(stage["init_from"]) != Path(previous.get("out", "")):
            needs.append(_copy(previous["out"], stage["init_from"]))
        add(needs + _copies(_teachers(stage)), train_command(stage))
    if soup:
        add(_copies(_soup(soup)), soup["command"])
    return commands


def lineage(chain: list[dict], soup: dict | None = None) -> list[dict]:
    """Every training config behind the weights, once each: the chain's stages, and the stages of
    its teachers and of the models averaged into it."""
    found = {}

    def visit(models: list[tuple[str, dict | None]]) -> None:
        for _, record in models:
            for stage in stages(record) if record else []:
                visit(_teachers(stage))
                found.setdefault(train_command(stage), stage)

    visit([("", stage) for stage in chain[-1:]] + _soup(soup))
    return list(found.values())


def _stage_names(chain: list[dict], models: list[tuple[str, dict | None]]) -> list[str]:
    outs = [Path(stage.get("out", "")) for stage in chain]
    names = []
    for path, record in models:
        out = Path(record["out"]) if record else None
        names.append(f"stage {outs.index(out) + 1}" if out in outs else f"`{path}`")
    return names


def teacher_names(chain: list[dict]) -> list[str]:
    """The last stage's --teacher models, named "stage N" where they are outputs of the chain."""
    return _stage_names(chain, _teachers(chain[-1] if chain else {}))


def soup_parts(training: dict, chain: list[dict]) -> list[dict]:
    """The averaged models as {"name", "weight"}, named "stage N" where they are outputs of the chain."""
    soup = training.get("soup") or {}
    return [{"name": name, "weight": weight}
            for name, weight in zip(_stage_names(chain, _soup(soup)), soup.get("weights", []))]


def earlier_curves(model_dir: Path) -> list[Path]:
    """Curves of the earlier stages (stage1_curves.png, stage2_curves.png, ...), first stage first."""
    found = []
    while (model_dir / f"stage{len(found) + 1}_curves.png").exists():
        found.append(model_dir / f"stage{len(found) + 1}_curves.png")
    return found


def views_command(model_dir: Path) -> str | None:
    """The command that gives a model folder the crop and test-time views it is evaluated with,
    where they differ from what train.py starts a model with (the crop mapping from bench/framing.py, the views from bench/choose_views.py)."""
    from .processing.processor import FaceProcessor

    processor, fresh = FaceProcessor.from_pretrained(model_dir), FaceProcessor()
    settings = ("crop_scale", "crop_shift", "align_eyes", "tta_scales", "tta_flip")
    if all(getattr(processor, name) == getattr(fresh, name) for name in settings):
        return None
    return (f"python -m fer_model configure {model_dir} --crop-scale {processor.crop_scale:g} --crop-shift "
            f"{','.join(f'{v:g}' for v in processor.crop_shift)} --{'' if processor.align_eyes else 'no-'}align-eyes "
            f"--tta-scales {','.join(f'{s:g}' for s in processor.tta_scales)} "
            f"--{'' if processor.tta_flip else 'no-'}tta-flip")


def render_card(model_dir: Path, out: Path, results: dict, card_dir: Path) -> ModelCard:
    """The card for a card file in `card_dir`, with image links relative to it."""
    training, log = read_training(model_dir)
    chain = stages(training)
    runs = lineage(chain, training.get("soup"))
    model_config = json.loads((model_dir / CONFIG_NAME).read_text())
    select = training.get("select", "f1")
    selection = SELECTIONS[select][0]
    best = max(log, key=lambda row: selection_score(row, select)) if log else None
    seconds = [float(row["epoch_seconds"]) for row in log if row.get("epoch_seconds")]
    source = (training.get("soup") or {}).get("out") or training.get("out")  # the folder the weights were written to

    def link(path: Path) -> str:
        return os.path.relpath(path.resolve(), card_dir).replace(os.sep, "/")

    return ModelCard.from_template(
        card_data(results, Path(model_dir).resolve().name),
        template_path=str(TEMPLATE),
        results=results,
        columns=results["columns"],
        labels=list(results["per_class"]),
        training=training,
        epochs_run=len(log),
        best=best,
        best_score=selection_score(best, select) if best else None,
        selection=selection,
        train_commands=reproduce_commands(chain, training.get("soup")),
        soup=soup_parts(training, chain),
        stages=chain,
        old_streams=[f"`{stage['out']}`" for stage in runs if not stage.get("random_streams")],
        old_streams_commit=OLD_STREAMS_COMMIT,
        every_stage=len(runs),
        teachers=teacher_names(chain),
        model_dir=str(model_dir),
        model_config=model_config,
        sides=[model_config["image_size"] // 2 ** k for k in range(len(model_config["channels"]) + 1)],
        flat=model_config["channels"][-1] * (model_config["image_size"] // 2 ** len(model_config["channels"])) ** 2,
        reference=all(model_config.get(key, value) == value for key, value in ARCHITECTURE_DEFAULTS.items()
                      if key not in ("channels", "hidden_size", "conv_dropout", "fc_dropout")),
        architecture=describe(model_config),
        weights_mb=(model_dir / WEIGHTS_NAME).stat().st_size / 1e6,
        epoch_seconds=statistics.median(seconds) if seconds else None,
        train_minutes=sum(seconds) / 60,
        copy=COPY,
        views_command=views_command(model_dir),
        copy_from=source if source and Path(source).resolve() != model_dir.resolve() else None,
        curves=link(model_dir / "curves.png") if (model_dir / "curves.png").exists() else None,
        earlier_curves=[link(path) for path in earlier_curves(model_dir)],
        confusion=link(out / "confusion_matrix.png"),
        reliability=link(out / "reliability_diagram.png"),
    )


def write_card(model_dir: Path, out: Path, results: dict, extra_copy: str | os.PathLike | None = None) -> None:
    """Write the card as `out/README.md` (what a model hub shows) and optionally a copy elsewhere.
    Its commands name the folder relative to the working directory when it lies inside it."""
    model_dir = Path(model_dir)
    if model_dir.is_absolute() and model_dir.resolve().is_relative_to(Path.cwd().resolve()):
        model_dir = model_dir.resolve().relative_to(Path.cwd().resolve())
    for path in [out / "README.md"] + ([Path(extra_copy)] if extra_copy else []):
        card = render_card(model_dir, out, results, path.resolve().parent)
        atomic_write(path, lambda temp: Path(temp).write_text(str(card)))


def rerender_card(model: str | os.PathLike, copy: str | os.PathLike | None = None) -> Path:
    """Re-render a model folder's card (and a copy) from the metrics.json evaluate.py wrote there,
    after a change to the template (`fer-model card`); measures nothing. Returns the card's path."""
    folder = Path(model)
    metrics = folder / "metrics.json"
    if not metrics.is_file():
        raise FileNotFoundError(f"{metrics} not found: run evaluate.py --model {folder} --update-model first")
    write_card(folder, folder, json.loads(metrics.read_text()), copy)
    return folder / CARD_NAME

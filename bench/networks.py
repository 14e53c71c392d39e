"""Two or more networks side by side, as each runtime reads a face: size, parameters, and the time
per face in onnxruntime (the torch-free install and the server path), in onnxruntime-web under Node
(the WebAssembly runtime the page's worker runs, one thread), and in PyTorch.

    python bench/networks.py [fernet-ferplus fernet-compact] [--repeats 300]

A face is what the default path feeds the network: the model's test-time views (its processor's
scales and flips, six for the shipped models) in one batch; "one view" is the webcam's single crop.
Every model is timed on the same inputs, one after the other, in this one run; ratios are against
the first model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference import timed  # noqa: E402  (bench/inference.py)
from fer_model.folder import GRAPH_NAME, WEIGHTS_NAME, resolve_model  # noqa: E402
from fer_model.models.graph import safetensors_layout  # noqa: E402
from fer_model.models.onnx_runtime import OnnxNetwork  # noqa: E402
from fer_model.processing.processor import FaceProcessor  # noqa: E402

NODE_TIMER = """
import fs from 'node:fs';
import {fileURLToPath} from 'node:url';
const [vendor, folder, views, repeats] = process.argv.slice(2);
const ort = await import(vendor + '/ort.wasm.min.mjs');
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = vendor + '/';
const config = JSON.parse(fs.readFileSync(folder + '/config.json'));
const session = await ort.InferenceSession.create(new Uint8Array(fs.readFileSync(folder + '/model.onnx')),
  {executionProviders: ['wasm'], graphOptimizationLevel: 'all',
   externalData: [{path: 'model.safetensors', data: new Uint8Array(fs.readFileSync(folder + '/model.safetensors'))}]});
const size = config.image_size, n = Number(views);
const input = new ort.Tensor('float32', Float32Array.from({length: n * size * size}, (_, i) => Math.sin(i)), [n, 1, size, size]);
for (let i = 0; i < 20; i++) await session.run({faces: input});
const times = [];
for (let i = 0; i < Number(repeats); i++) {
  const start = performance.now();
  await session.run({faces: input});
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({median: times[Math.floor(times.length / 2)]}));
"""


def median_ms(fn, repeats: int) -> float:
    """Median milliseconds of `repeats` calls after 20 untimed ones (bench/inference.py's timer)."""
    return statistics.median(timed(fn, repeats, warmup=20))


def onnx_ms(folder: Path, views: int, threads: int, repeats: int) -> float:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(folder / GRAPH_NAME), options, providers=["CPUExecutionProvider"])
    faces = np.random.default_rng(0).standard_normal((views, 1, 48, 48)).astype(np.float32)
    return median_ms(lambda: session.run(["logits"], {"faces": faces}), repeats)


def torch_ms(folder: Path, views: int, repeats: int) -> float:
    import torch

    from fer_model.models.fernet import FERNet

    torch.set_num_threads(2)
    model = FERNet.from_pretrained(folder).to(memory_format=torch.channels_last)
    faces = torch.randn(views, 1, 48, 48).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        return median_ms(lambda: model(faces), repeats)


def node_ms(folder: Path, views: int, repeats: int) -> float | None:
    node = shutil.which("node")
    if node is None:
        return None
    from fer_model.web import PAGE, VENDOR

    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "time.mjs"
        script.write_text(NODE_TIMER)
        done = subprocess.run([node, str(script), str(PAGE / VENDOR), str(folder), str(views), str(repeats)],
                              capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"node: {done.stderr[-2000:]}")
    return json.loads(done.stdout)["median"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["fernet-ferplus", "fernet-compact"])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    rows = []
    for name in args.models:
        folder = Path(resolve_model(name))
        views = FaceProcessor.from_pretrained(folder).views_per_face
        network = OnnxNetwork(folder)
        parameters = sum(int(np.prod(entry["shape"])) for name, entry in safetensors_layout(folder / WEIGHTS_NAME).items()
                         if not name.endswith(("running_mean", "running_var", "num_batches_tracked")))
        row = {"model": name, "parameters": parameters, "weights MB": (folder / WEIGHTS_NAME).stat().st_size / 1e6,
               "views": views, "labels": len(network.labels)}
        for label, count in ((f"{views} views", views), ("one view", 1)):
            row[f"onnxruntime 1 thread, {label}"] = onnx_ms(folder, count, 1, args.repeats)
            row[f"onnxruntime 2 threads, {label}"] = onnx_ms(folder, count, 2, args.repeats)
            row[f"onnxruntime-web (Node, WebAssembly, 1 thread), {label}"] = node_ms(folder, count, args.repeats)
            row[f"PyTorch 2 threads, {label}"] = torch_ms(folder, count, args.repeats)
        rows.append(row)
    first = rows[0]
    for key in first:
        values = []
        for row in rows:
            value = row[key]
            if isinstance(value, float) and key.endswith(("view", "views")):
                values.append(f"{value:.2f} ms" + (f" ({value / first[key]:.2f}x)" if row is not first else ""))
            elif isinstance(value, float):
                values.append(f"{value:.2f}")
            else:
                values.append(f"{value:,}" if isinstance(value, int) else str(value))
        print(f"| {key} | " + " | ".join(values) + " |")


if __name__ == "__main__":
    main()

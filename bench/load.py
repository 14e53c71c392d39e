"""Load test of the demo: many concurrent gradio_client users on `python app.py` (localhost only).

    python bench/load.py [--clients 32] [--requests 10] [--model DIR]

Launches app.py on a free localhost port, has every client upload a real face photo
`--requests` times through the /predict API, then stops the server. Prints how many requests
were answered, errors, whether the server process stayed the same, throughput and latency
percentiles. Exits non-zero if any request failed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from launch import running_app  # noqa: E402
from fer_model import DEFAULT_MODEL, EXAMPLES  # noqa: E402

PHOTO = EXAMPLES / "astronaut.png"


def client_session(url: str, requests: int) -> tuple[list[float], list[str]]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    latencies, errors = [], []
    for _ in range(requests):
        start = time.perf_counter()
        try:
            *_, faces, _ = client.predict(handle_file(PHOTO), False, api_name="/predict")
            if len(faces) != 1 or abs(sum(faces[0]["probabilities"].values()) - 1) > 1e-4:
                errors.append(f"unexpected answer: {faces}")
        except Exception as error:  # every failure is counted and reported, whatever its type
            errors.append(f"{type(error).__name__}: {error}")
        latencies.append(time.perf_counter() - start)
    return latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder (default: the shipped model)")
    args = parser.parse_args()
    with running_app(args.model) as (url, process):
        pid = process.pid
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            sessions = list(pool.map(lambda _: client_session(url, args.requests), range(args.clients)))
        wall = time.perf_counter() - start
        alive = process.poll() is None and process.pid == pid
    latencies = sorted(t for times, _ in sessions for t in times)
    errors = [e for _, errs in sessions for e in errs]
    total = args.clients * args.requests
    q = statistics.quantiles(latencies, n=100)
    print(f"{args.clients} clients x {args.requests} requests of {PHOTO.name} against {url}")
    print(f"answered {total - len(errors)}/{total}, errors {len(errors)}, server stayed up (same process): {alive}")
    print(f"throughput {total / wall:.1f} requests/s over {wall:.1f} s")
    print(f"latency p50 {q[49] * 1000:.0f} ms  p95 {q[94] * 1000:.0f} ms  p99 {q[98] * 1000:.0f} ms  "
          f"max {latencies[-1] * 1000:.0f} ms")
    for error in errors[:5]:
        print("  error:", error)
    return 0 if not errors and alive else 1


if __name__ == "__main__":
    sys.exit(main())

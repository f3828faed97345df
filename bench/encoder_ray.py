"""Encoder inference in this process vs on a local Ray instance (Ray Data over an actor pool).

    python bench/encoder_ray.py                          # all-MiniLM-L6-v2, 20,000 texts, 3 repeats
    python bench/encoder_ray.py --sizes 2000,20000 --repeats 1
    python bench/encoder_ray.py --tiny                   # random tiny encoder: a smoke test only

What is measured (wall clock, medians over `--repeats`; the machine may be shared, so compare the ratios):

- **Ray startup**: `ray_runtime` starting a local instance with this machine's cores (once per process).
- **in-process**: the bare encoder, `embed_texts` (torch's default threads) over distinct short texts.
- **Ray local**: `embed_on_ray` over the same texts: a fresh actor pool per call (as every `TurnEmbedder`
  call that crosses SELFLEARN_RAY_MIN_TEXTS gets), one actor per CPU, each loading the encoder once and
  running one torch thread; so each call pays the pool's start and the encoder's load.
- **ratio** = Ray texts/s / in-process texts/s (the issue's target: >= 0.9); the break-even is the smallest
  size where it reaches 1 (SELFLEARN_RAY_MIN_TEXTS's default follows it).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selflearn_assets.lib.compute import ComputeConfig, ray_runtime, shutdown  # noqa: E402
from selflearn_assets.lib.compute.encode import embed_on_ray  # noqa: E402
from selflearn_assets.lib.models.encoder import embed_texts, load_encoder, tiny_encoder  # noqa: E402

WORDS = (
    "play turn on off the lights in kitchen living room set alarm for seven tomorrow morning what is weather "
    "like today call mom send message to john order pizza from nearest place remind me buy milk read my new "
    "emails how long will it take get work song by queen volume up down stop pause next track add eggs shopping "
    "list book table two tonight at italian restaurant"
).split()


def distinct_texts(n: int, seed: int = 0) -> list[str]:
    """`n` distinct utterances of 3 to 9 words drawn from an assistant's vocabulary."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen[" ".join(rng.choices(WORDS, k=rng.randint(3, 9)))] = None
    return list(seen)


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="2000,5000,10000,20000", help="texts per call, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="a random tiny encoder instead of MiniLM")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    texts = distinct_texts(max(sizes))
    tokenizer, model = tiny_encoder(texts) if args.tiny else load_encoder()
    config = ComputeConfig(ray=True, min_texts=1)

    startup, ray = timed(lambda: ray_runtime(config))
    cpus = int(ray.cluster_resources().get("CPU", 0))
    pool_start, _ = timed(lambda: embed_on_ray(tokenizer, model, texts[:1], config=config))
    print(f"encoder: {'tiny (random)' if args.tiny else model.config._name_or_path}")
    print(
        f"Ray startup (local, {cpus} CPUs): {startup:.1f} s; actor pool start + encoder load, 1 text: {pool_start:.1f} s"
    )
    print(f"{'texts':>7} {'in-process/s':>13} {'Ray local/s':>12} {'ratio':>6} {'max |diff|':>11}")
    for n in sizes:
        local, remote, diff = [], [], 0.0
        for _ in range(args.repeats):
            t_local, ref = timed(lambda n=n: embed_texts(tokenizer, model, texts[:n], progress=False))
            t_ray, (vectors, _) = timed(lambda n=n: embed_on_ray(tokenizer, model, texts[:n], config=config))
            local.append(n / t_local)
            remote.append(n / t_ray)
            diff = max(diff, float(np.abs(vectors - ref).max()))
        a, b = statistics.median(local), statistics.median(remote)
        print(f"{n:>7} {a:>13.0f} {b:>12.0f} {b / a:>6.2f} {diff:>11.1e}", flush=True)
    shutdown()


if __name__ == "__main__":
    main()

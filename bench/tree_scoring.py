"""The ranker's trees at serving size: scikit-learn's `predict_proba` against `tree_scoring.CompiledTrees`.

    python bench/tree_scoring.py                 # 25 candidates x 19 features, 200 trees of depth 4
    python bench/tree_scoring.py --calls 1000    # more calls per repeat

The model is the ranker's own (`ranker.fit_model` with the default `RankerConfig`: 200 iterations, depth 4,
monotonic constraints) fitted on 5,000 synthetic rows of `features.FEATURES` (a fifth of some columns NaN, a
label from a few of them plus noise): what is measured is the cost of scoring, not the model's quality. A call
scores one request's candidates: 25 rows x 19 features. Per repeat, `--calls` calls of each (a fresh candidate
set each call, interleaved) give the mean time of one call; reported is the median over `--repeats` repeats,
and the ratio. Both are measured twice: with the default thread pools (scikit-learn runs an OpenMP region per
tree) and with every pool limited to one thread (`threadpoolctl`), as the service runs pinned to one core.
Also printed: the largest difference of the two P over all calls' rows (must be ~1e-16), the compiled trees'
size (joblib) against the fitted model's, and the tree depth the descent takes.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import joblib
import numpy as np
from threadpoolctl import threadpool_limits

from selflearn_assets.lib.online.features import FEATURES
from selflearn_assets.lib.online.ranker import RankerConfig, fit_model
from selflearn_assets.lib.online.tree_scoring import CompiledTrees

CANDIDATES = 25


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, len(FEATURES)))
    for column in range(0, len(FEATURES), 3):
        x[rng.random(n) < 0.2, column] = np.nan
    signal = np.nansum(x[:, :6], axis=1) - 2 * np.nan_to_num(x[:, 15]) + 3 * x[:, 13]
    return x, (signal + rng.normal(scale=0.7, size=n) > np.nanmedian(signal)).astype(int)


def _per_call(model, trees: CompiledTrees, requests: list[np.ndarray]) -> tuple[float, float, float]:
    """(mean seconds per call of predict_proba, of CompiledTrees.proba; largest |difference|)."""
    spent, diff = [0.0, 0.0], 0.0
    for x in requests:
        start = time.perf_counter()
        theirs = model.predict_proba(x)[:, 1]
        middle = time.perf_counter()
        ours = trees.proba(x)
        end = time.perf_counter()
        spent[0] += middle - start
        spent[1] += end - middle
        diff = max(diff, float(np.abs(theirs - ours).max()))
    return spent[0] / len(requests), spent[1] / len(requests), diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    x, y = _synthetic(5000, seed=0)
    config = RankerConfig()
    model = fit_model(x, y, config)
    trees = CompiledTrees.from_model(model)
    compiled, fitted = io.BytesIO(), io.BytesIO()
    joblib.dump(trees, compiled)
    joblib.dump(model, fitted)
    print(
        f"model: {model.n_iter_} iterations (config {config.max_iter}), max_depth {config.max_depth}, "
        f"{trees.n_trees} trees, {len(trees.value)} nodes, descent depth {trees.depth}; "
        f"joblib size {len(compiled.getvalue()) / 1024:.0f} KiB compiled vs "
        f"{len(fitted.getvalue()) / 1024:.0f} KiB fitted"
    )
    pool, _ = _synthetic(args.calls * CANDIDATES, seed=1)
    requests = list(pool.reshape(args.calls, CANDIDATES, len(FEATURES)))
    _per_call(model, trees, requests[:20])  # warm-up
    for label, limit in (("default threads", None), ("one thread", 1)):
        with threadpool_limits(limits=limit):
            runs = [_per_call(model, trees, requests) for _ in range(args.repeats)]
        sk = statistics.median(r[0] for r in runs)
        ours = statistics.median(r[1] for r in runs)
        print(
            f"{label:>15}: one call on {CANDIDATES} rows x {len(FEATURES)} features, median of "
            f"{args.repeats} repeats of {args.calls} calls: sklearn predict_proba {sk * 1e3:.3f} ms, "
            f"CompiledTrees.proba {ours * 1e3:.3f} ms, ratio {sk / ours:.1f}x; "
            f"max |diff| {max(r[2] for r in runs):.1e}"
        )


if __name__ == "__main__":
    main()

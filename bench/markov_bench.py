"""Markov rewrite miner at scale: `mine_rewrites` on synthetic reformulation graphs, against SciPy's
`spsolve` of the whole system (I − Q) p = r.

    python bench/markov_bench.py                                 # 1e4 1e5 1e6 1e7 transient states
    python bench/markov_bench.py --sizes 10000 100000            # a quick run
    python bench/markov_bench.py --sizes 1000000 --reference-max 0   # no reference

The graph is clustered like paraphrase families: many components of 5..50 utterances plus three
hub-shaped ones of 2% of the states each; about 5 distinct outgoing edges per said utterance
(reformulations, mostly towards a family's few canonical phrasings, plus SUCCESS / FAILURE), with
heavy-tailed traffic. It is written as per-day `markov_transitions` rows of a 14-day window: string
states, per-day counts and per-day distinct-user lists that overlap across days, and 0.5% rewritten
rows. Generation is not timed.

Each size runs in its own subprocess, one after another. Reported per size: rows, the wall time of
`mine_rewrites` end to end (build from string rows + solve + choose), its CPU time (user + system,
all threads) and the 1-minute load average when it started (the machine is shared, so wall time
depends on it), its parts (wall), the peak RSS while
it runs (the input rows included; the kernel's high-water mark is reset after generation), and the
reference: `spsolve` alone on the same chain's whole system (states that can reach absorption), its
time, peak RSS and its largest difference from our probabilities.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DAYS = 14
CHUNK_STATES = 500_000


def generate_chunk(
    rng: np.random.Generator, sizes: np.ndarray, first_comp: int, n_users: int
) -> pl.DataFrame:
    """Per-day rows of the components with these sizes (component ids from first_comp)."""
    n = int(sizes.sum())
    comp = np.repeat(np.arange(sizes.size), sizes)
    start = np.r_[0, np.cumsum(sizes)[:-1]][comp]
    size = sizes[comp]
    local = np.arange(n) - start
    canonical = local < np.maximum(1, size // 8)
    quality = np.where(canonical, rng.beta(8, 2, n), rng.beta(1.5, 4, n))
    traffic = rng.lognormal(2.2, 1.1, n) * np.where(canonical, 4.0, 1.0)

    # Reformulations: towards low local indices (the canonical phrasings), now and then a repeat.
    deg = rng.poisson(6.0, n)
    e_src = np.repeat(np.arange(n), deg)
    e_dst = start[e_src] + np.floor(size[e_src] * rng.random(e_src.size) ** 2).astype(np.int64)
    key = np.sort(e_src * n + e_dst)  # np.unique, without its slow hashing path in NumPy 2.4
    key = key[np.r_[True, key[1:] != key[:-1]]]
    e_src, e_dst = key // n, key % n
    weight = rng.exponential(1.0, e_src.size)
    weight_sum = np.bincount(e_src, weights=weight, minlength=n)
    e_mass = (1 - quality[e_src]) * 0.7 * weight / weight_sum[e_src]
    no_reformulation = weight_sum == 0
    src = np.r_[e_src, np.arange(n), np.arange(n)]
    dst = np.r_[e_dst, np.full(n, -1), np.full(n, -2)]
    mass = np.r_[e_mass, quality, (1 - quality) * np.where(no_reformulation, 1.0, 0.3)]
    count = rng.poisson(traffic[src] * mass)
    keep = count > 0
    src, dst, count = src[keep], dst[keep], count[keep]

    # Window totals, then split over days: users overlap across days (one regular on every day).
    users = 1 + rng.binomial(count - 1, 0.5)
    sessions = users + rng.binomial(count - users, 0.5)
    days = np.minimum(DAYS, 1 + rng.binomial(np.minimum(count, 40) - 1, 0.05))
    edge = np.repeat(np.arange(src.size), days)
    k = np.arange(edge.size) - np.repeat(np.cumsum(days) - days, days)
    d_e = days[edge]
    day = (rng.integers(0, DAYS, src.size)[edge] + k) % DAYS
    day_users = np.maximum(1, (users[edge] - k + d_e - 1) // d_e + (k > 0))
    day_count = np.maximum(count[edge] // d_e + (k == 0) * (count[edge] % d_e), day_users)
    day_sessions = np.clip(sessions[edge] // d_e, 1, day_count)
    offsets = np.r_[0, np.cumsum(day_users)]
    entry_row = np.repeat(np.arange(edge.size), day_users)
    j = np.arange(offsets[-1]) - offsets[:-1][entry_row]
    kk = k[entry_row]
    slot = np.where((kk > 0) & (j == 0), 0, kk + (j - (kk > 0)) * d_e[entry_row])
    user_id = (edge[entry_row] * 7919 + slot * 104729 + first_comp) % n_users

    comp_id = first_comp + comp
    texts = pl.select(
        pl.format("play item {} variant {}", pl.lit(pl.Series(comp_id)), pl.lit(pl.Series(local)))
    ).to_series()
    texts = pl.concat([texts, pl.Series(["__SUCCESS__", "__FAILURE__"])])
    src_r, dst_r = src[edge], dst[edge]
    dst_index = np.where(dst_r >= 0, dst_r, n - dst_r - 1)
    values = pl.Series(user_id).cast(pl.String).to_arrow()
    users_col = pl.Series("users", pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values))
    return pl.DataFrame(
        {
            "day": np.datetime64("2026-01-01") + day.astype("timedelta64[D]"),
            "src": texts.gather(src_r),
            "dst": texts.gather(dst_index),
            "rewritten": rng.random(edge.size) < 0.005,
            "n_transitions": day_count.astype(np.int64),
            "n_sessions": day_sessions.astype(np.int64),
            "users": users_col,
        }
    )


def generate(n_states: int, path: Path, seed: int = 0) -> int:
    """Write the window's rows for about n_states utterances to a Parquet file, chunk by chunk (so
    the generator holds one chunk, not the window); returns the number of rows."""
    rng = np.random.default_rng(seed)
    big = [max(50, n_states // 50)] * 3
    rest = n_states - sum(big)
    small = rng.integers(5, 51, rest // 5 + 10)
    cut = int(np.searchsorted(np.cumsum(small), rest))
    small = small[: cut + 1]
    small[-1] -= small.sum() - rest
    sizes = np.r_[big, small[small > 0]].astype(np.int64)
    n_users = max(1000, n_states // 2)
    first, acc, n_rows, writer = 0, [], 0, None
    try:
        for i, s in enumerate(sizes):
            acc.append(s)
            if sum(acc) >= CHUNK_STATES or i == sizes.size - 1:
                table = generate_chunk(rng, np.array(acc), first, n_users).to_arrow()
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                n_rows += table.num_rows
                first += len(acc)
                acc = []
    finally:
        if writer is not None:
            writer.close()
    return n_rows


def _memory() -> dict[str, float]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {k: int(status[k].split()[0]) / 2**20 for k in ("VmHWM", "VmRSS")}  # GiB


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def child(path: Path, n_states: int, reference: bool, scan: bool) -> dict:
    """Mine the rows at `path` (Parquet) in this fresh process; measure it, then the reference.
    scan: pass `pl.scan_parquet(path)` (rows streamed from disk) instead of the rows in memory."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    from selflearn_assets.lib.markov import mine_rewrites
    from selflearn_assets.lib.markov.chain import build_chain
    from selflearn_assets.lib.markov.rows import window_frame
    from selflearn_assets.lib.markov.solve import absorption_probabilities

    rows = pl.scan_parquet(path) if scan else pl.read_parquet(path)
    out = {"target_states": n_states, "input": "scan" if scan else "memory"}
    out["input_gib"] = 0.0 if scan else rows.estimated_size() / 2**30
    _reset_peak()
    out["rss_before_gib"] = _memory()["VmRSS"]
    out["load_avg_1m"] = os.getloadavg()[0]  # the machine is shared: wall time depends on it
    t, cpu = time.perf_counter(), _cpu_seconds()
    table, report = mine_rewrites(rows)
    out["mine_s"] = time.perf_counter() - t
    out["mine_cpu_s"] = _cpu_seconds() - cpu
    out["rows"] = report["n_rows"]
    out["mine_peak_gib"] = _memory()["VmHWM"]
    out |= {k: report[k] for k in ("n_states", "n_transient_edges", "n_components", "largest_component")}
    out |= {k: report[k] for k in ("build_seconds", "solve_seconds", "select_seconds", "max_residual")}
    out |= {"n_sources": report["n_sources"], "n_rewrites": report["n_rewrites"]}
    out["components_by_method"] = report["components_by_method"]
    del table
    if reference:
        chain = build_chain(window_frame(rows))
        del rows
        ours = absorption_probabilities(chain.q, chain.r_success, chain.r_failure)
        live = ours.component >= 0
        q = chain.q[live][:, live]
        system = (sp.identity(q.shape[0], format="csc") - q).tocsc()
        r = chain.r_success[live]
        del chain
        _reset_peak()
        base = _memory()["VmRSS"]
        t = time.perf_counter()
        p = spsolve(system, r)
        out["spsolve_s"] = time.perf_counter() - t
        out["spsolve_extra_peak_gib"] = _memory()["VmHWM"] - base
        out["max_abs_diff"] = float(np.abs(p - ours.success[live]).max())
    return out


def run_size(n: int, reference: bool, scan: bool, workdir: Path) -> dict | None:
    """Generate in one subprocess (Parquet), mine in another: RSS is the mining process's alone."""
    path = workdir / f"rows_{n}.parquet"
    t = time.perf_counter()
    gen = subprocess.run(
        [sys.executable, __file__, "--generate", str(n), str(path)], capture_output=True, text=True
    )
    if gen.returncode != 0:
        print(f"size {n}: generation failed\n{gen.stderr[-2000:]}", flush=True)
        return None
    generate_s = time.perf_counter() - t
    cmd = [sys.executable, __file__, "--child", str(n), str(path)]
    cmd += (["--reference"] if reference else []) + (["--scan"] if scan else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    path.unlink(missing_ok=True)
    if done.returncode != 0:
        print(f"size {n}: failed\n{done.stderr[-2000:]}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"generate_s": generate_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6, 10**7])
    parser.add_argument(
        "--reference-max", type=int, default=10**6, help="largest size to run spsolve at (0: never)"
    )
    parser.add_argument(
        "--scan", action="store_true", help="stream the rows from Parquet (pl.scan_parquet), not from memory"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(int(args.generate[0]), Path(args.generate[1]))
        return
    if args.child:
        print(json.dumps(child(Path(args.child[1]), int(args.child[0]), args.reference, args.scan)))
        return

    results = []
    with tempfile.TemporaryDirectory(prefix="markov_bench_") as workdir:
        for n in args.sizes:
            r = run_size(n, 0 < n <= args.reference_max, args.scan, Path(workdir))
            if r is not None:
                results.append(r)
                print(json.dumps(r), flush=True)

    print()
    header = (
        f"{'states':>10} {'rows':>11} {'input GiB':>9} {'mine s':>7} {'cpu s':>6} {'load':>5} {'build':>6} {'solve':>6} {'select':>6} "
        f"{'peak GiB':>8} {'rewrites':>8} {'largest':>8} {'spsolve s':>9} {'solve/ref':>9} {'mine/ref':>8} {'|Δp|':>8}"
    )
    print(header)
    for r in results:
        ref = r.get("spsolve_s")
        print(
            f"{r['n_states']:>10,} {r['rows']:>11,} {r['input_gib']:>9.2f} {r['mine_s']:>7.2f} "
            f"{r['mine_cpu_s']:>6.1f} {r['load_avg_1m']:>5.1f} "
            f"{r['build_seconds']:>6.2f} {r['solve_seconds']:>6.2f} {r['select_seconds']:>6.2f} "
            f"{r['mine_peak_gib']:>8.2f} {r['n_rewrites']:>8,} {r['largest_component']:>8,} "
            + (
                f"{ref:>9.2f} {r['solve_seconds'] / ref:>9.3f} {r['mine_s'] / ref:>8.2f} {r['max_abs_diff']:>8.1e}"
                if ref is not None
                else f"{'skipped':>9} {'-':>9} {'-':>8} {'-':>8}"
            )
        )
    if len(results) > 1:
        a, b = results[0], results[-1]
        growth = np.log(b["mine_s"] / a["mine_s"]) / np.log(b["n_states"] / a["n_states"])
        print(f"\ntime ~ states^{growth:.2f} between {a['n_states']:,} and {b['n_states']:,} states")


if __name__ == "__main__":
    main()

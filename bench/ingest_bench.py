"""Issue benchmark: simulate a 1,000,000-turn day, then ingest it, against DuckDB's bare `read_json`.

    .venv/bin/python bench/ingest_bench.py [--turns 1000000] [--repeat 3] [--workdir /tmp/selflearn-bench]
                                           [--fresh] [--keep]

Prints simulator turns/s and peak RSS, then (from bench/ingest_throughput.py, each run in a fresh
subprocess on a fresh on-disk warehouse, the two runs interleaved) the rows/s of a bare
`CREATE TABLE AS SELECT * FROM read_json(...)` of the same files and of `ingest_turns`, as the median of
`--repeat` runs with their range, the ratio of the medians (also by CPU time, the steadier figure on a
shared machine) and peak RSS. Targets on the 2-core machine: simulator >= 20,000 turns/s; ingestion
>= 50% of bare; RSS < 3 GB.

The simulated day is cached in `--workdir` (with the simulator's figures in `simulated.json`) and reused by
later runs with the same `--turns`; `--fresh` simulates it again, and it is deleted afterwards unless
`--keep` is given or it was already there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_throughput import measure  # noqa: E402

DAY = date(2026, 11, 1)


def simulate_day(raw: Path, turns: int) -> tuple[int, float, float]:
    """(turns, turns/s, peak RSS MiB) of a simulator run in its own process."""
    code = (
        "import sys; from datetime import date; from selflearn_assets.lib.simulator import SimConfig, simulate;"
        f"s = simulate(SimConfig.for_turns({turns}, start=date({DAY.year}, {DAY.month}, {DAY.day}), days=1, "
        f"annotation_rate=0.1), {str(raw)!r}, progress=False); print(s.turns, s.turns_per_second)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("simulator failed")
    n, rate = out.split()
    return int(n), float(rate), usage.ru_maxrss / 1024


def cached_day(workdir: Path, turns: int, fresh: bool) -> tuple[dict, bool]:
    """The simulator's figures for the day in `workdir/raw` (simulated now unless cached); and whether it
    was simulated by this run."""
    record = workdir / "simulated.json"
    if not fresh and record.exists():
        sim = json.loads(record.read_text())
        if sim["requested"] == turns and (workdir / "raw" / f"date={DAY.isoformat()}").is_dir():
            return sim, False
    shutil.rmtree(workdir, ignore_errors=True)
    n, rate, rss = simulate_day(workdir / "raw", turns)
    sim = {"requested": turns, "turns": n, "turns_per_second": rate, "peak_rss_mib": rss}
    record.write_text(json.dumps(sim))
    return sim, True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/selflearn-bench"))
    parser.add_argument("--fresh", action="store_true", help="simulate the day again even if it is cached")
    parser.add_argument("--keep", action="store_true", help="keep the simulated day for later runs")
    args = parser.parse_args()

    sim, simulated = cached_day(args.workdir, args.turns, args.fresh)
    print(
        f"simulator        {sim['turns']:>10,d} turns  {sim['turns_per_second']:>10,.0f} turns/s  "
        f"peak RSS {sim['peak_rss_mib']:,.0f} MiB{'' if simulated else '  (cached run)'}"
    )

    raw = args.workdir / "raw"
    runs: dict[str, list] = {"bare": [], "ingest": []}
    for _ in range(args.repeat):  # interleaved, so a busy neighbour slows both alike
        for phase in runs:
            runs[phase].append(measure(phase, raw, DAY))
    rates, cpu_rates = {}, {}
    for phase, results in runs.items():
        rows = results[0][0]
        per_run = [r[0] / r[1] for r in results]
        rates[phase] = statistics.median(per_run)
        cpu_rates[phase] = statistics.median(r[0] / r[2] for r in results)
        rss = max(r[3] for r in results)
        name = "bare read_json" if phase == "bare" else "ingest_turns"
        print(
            f"{name:16s} {rows:>10,d} rows   {rates[phase]:>10,.0f} rows/s (runs {min(per_run):,.0f}-"
            f"{max(per_run):,.0f})  peak RSS {rss:,.0f} MiB  (median of {len(results)})"
        )
    per_pair = sorted(i[0] / i[1] / (b[0] / b[1]) for i, b in zip(runs["ingest"], runs["bare"], strict=True))
    print(
        f"ingestion / bare read_json: {rates['ingest'] / rates['bare']:.2f} "
        f"(interleaved pairs {per_pair[0]:.2f}-{per_pair[-1]:.2f}; by CPU time "
        f"{cpu_rates['ingest'] / cpu_rates['bare']:.2f})"
    )
    if simulated and not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Issue benchmark: simulate a 1,000,000-turn day, then ingest it, against DuckDB's bare `read_json`.

    .venv/bin/python bench/ingest_bench.py [--turns 1000000] [--repeat 3] [--workdir /tmp/selflearn-bench]

Prints simulator turns/s and peak RSS, then (from bench/ingest_throughput.py, each run in a fresh
subprocess, runs interleaved) the median rows/s of `ingest_turns` and of a bare
`CREATE TABLE AS SELECT * FROM read_json(...)` of the same files, their ratio, and peak RSS.
Targets on the 2-core machine: simulator >= 20,000 turns/s; ingestion >= 50% of bare; RSS < 3 GB.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/selflearn-bench"))
    args = parser.parse_args()
    raw = args.workdir / "raw"
    shutil.rmtree(args.workdir, ignore_errors=True)

    turns, sim_rate, sim_rss = simulate_day(raw, args.turns)
    print(f"simulator        {turns:>10,d} turns  {sim_rate:>10,.0f} turns/s  peak RSS {sim_rss:,.0f} MiB")

    runs: dict[str, list] = {"bare": [], "ingest": []}
    for _ in range(args.repeat):
        for phase in runs:
            runs[phase].append(measure(phase, raw, DAY))
    rates = {}
    for phase, results in runs.items():
        rows = results[0][0]
        rate = statistics.median(r[0] / r[1] for r in results)
        rss = max(r[3] for r in results)
        rates[phase] = rate
        name = "bare read_json" if phase == "bare" else "ingest_turns"
        print(f"{name:16s} {rows:>10,d} rows   {rate:>10,.0f} rows/s   peak RSS {rss:,.0f} MiB  (median of {len(results)})")
    print(f"ingestion / bare read_json: {rates['ingest'] / rates['bare']:.2f}")
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

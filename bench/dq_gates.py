"""Issue 16 benchmark: the ingestion gates' cost against `raw_turns`' own (ingest_turns) on the same large day.

    .venv/bin/python bench/dq_gates.py [--turns 1000000] [--repeat 3] [--workdir /tmp/selflearn-dq]
                                       [--reference] [--keep]

Writes a synthetic day of `--turns` contract-like turns (bench/ingest_throughput.py's rows; cached in
`--workdir`), then `--repeat` times, each in a fresh subprocess on a fresh on-disk warehouse: ingests it with
`ingest_turns` and times the blocking gates on it as the check functions run them: `clean_turns` expectations
computed in DuckDB and judged by GX (`validate_clean_turns_day`) and the accounting suite
(`validate_accounting` on `ingest/accounting.sql`); with `--reference` also the row-level GX suite on the
day selected into pandas (the gate before issue 16). Prints the medians and the gates as a share of
ingestion time. Target: < 10%.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest_throughput import generate  # noqa: E402

DAY = date(2026, 11, 1)


def _child(raw: Path, warehouse: Path, reference: bool) -> None:
    """Ingest the day, then time each gate; print a JSON line of seconds (imports not timed)."""
    import duckdb

    from selflearn_assets.lib.ingest import ingest_turns
    from selflearn_assets.lib.quality.turn_expectations import (
        CHECKED_COLUMNS,
        validate_accounting,
        validate_clean_turns,
        validate_clean_turns_day,
    )
    from selflearn_assets.lib.sql import run_sql

    con = duckdb.connect(str(warehouse))
    seconds = {}
    started = time.perf_counter()
    rows = ingest_turns(con, raw, DAY, "bench-key").clean_rows
    seconds["ingest_turns"] = time.perf_counter() - started

    started = time.perf_counter()
    outcome = validate_clean_turns_day(con, DAY)
    seconds["clean_turns_expectations"] = time.perf_counter() - started
    assert outcome.success, outcome.markdown()

    started = time.perf_counter()
    read, lost, _, clean, quarantined = run_sql(con, "ingest/accounting.sql", {"day": DAY}).fetchone()
    assert validate_accounting(read, clean, quarantined, 0.05, lost).success
    seconds["ingest_accounting"] = time.perf_counter() - started

    if reference:
        started = time.perf_counter()
        frame = con.execute(
            f"SELECT {', '.join(CHECKED_COLUMNS)} FROM ingest.clean_turns WHERE day = ?", [DAY]
        ).df()
        assert validate_clean_turns(frame, DAY).success
        seconds["row_level_gx (before)"] = time.perf_counter() - started
    print(json.dumps({"rows": rows, **seconds}))


def _run(raw: Path, reference: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--child", str(raw), str(Path(tmp) / "w.duckdb")]
        out = subprocess.run(
            cmd + (["--reference"] if reference else []), check=True, capture_output=True, text=True
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/selflearn-dq"))
    parser.add_argument("--reference", action="store_true", help="also time the row-level GX suite on pandas")
    parser.add_argument("--keep", action="store_true", help="keep the generated day for later runs")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child, args.reference)
        return

    raw, marker = args.workdir / "raw", args.workdir / f"turns-{args.turns}"
    if not marker.exists():
        shutil.rmtree(args.workdir, ignore_errors=True)
        print(f"writing a day of {args.turns:,} turns to {raw} ...", flush=True)
        generate(raw, DAY, args.turns, shards=4)
        marker.touch()
    runs = []
    for i in range(args.repeat):
        runs.append(_run(raw, args.reference))
        print(
            f"run {i + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[-1].items() if k != "rows"),
            flush=True,
        )
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "rows"}
    ingest = median.pop("ingest_turns")
    print(f"\n{runs[0]['rows']:,} clean rows; medians of {len(runs)} runs")
    print(f"  {'ingest_turns (raw_turns)':28s} {ingest:7.3f} s")
    for name, seconds in median.items():
        print(f"  {name:28s} {seconds:7.3f} s  {seconds / ingest:6.1%} of ingestion")
    gates = median["clean_turns_expectations"] + median["ingest_accounting"]
    share = statistics.median(
        (r["clean_turns_expectations"] + r["ingest_accounting"]) / r["ingest_turns"] for r in runs
    )
    print(
        f"  blocking gates together      {gates:7.3f} s  {share:6.1%} of ingestion (median of per-run ratios)"
    )
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The lake against the warehouse table it replaces, for one day of `labels.failure_points`.

Per run, on a fresh temporary home: the day's rows (synthetic, `--rows`) are published by `labels.replace_day`
into the lake (the insert SQL on a private in-memory DuckDB, streamed into one Parquet file), and by the old path
(DELETE + INSERT of the same SQL into a warehouse table, in one transaction); then the day is read back through
the warehouse's view and from the table (`count(*)`, and the failure-point mix of the day, grouped). Prints the
median of `--runs` runs of each, the ratio lake / table, and the partition's size on disk.

    .venv/bin/python bench/lake_bench.py --rows 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from selflearn_assets.lib.labels import label_views, replace_day
from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.sql import run_sql, transaction

DAY = date(2026, 11, 16)
CLASSES = ("false_wake", "asr", "nlu", "er", "result", "correct")
MIX = "SELECT failure_point, count(*), avg(failure_point_confidence) FROM labels.failure_points WHERE day = ? GROUP BY 1"


def frame(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(len(CLASSES)), rows)
    best = p.argmax(axis=1)
    return pl.DataFrame(
        {
            "event_id": [f"e{i:09d}" for i in range(rows)],
            "session_id": [f"s{i // 4:08d}" for i in range(rows)],
            "failure_point": np.array(CLASSES)[best],
            "failure_point_confidence": p.max(axis=1),
            **{f"p_{c}": p[:, k] for k, c in enumerate(CLASSES)},
        }
    )


def old_replace_day(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> None:
    """What `labels.replace_day` did before the lake: DELETE + INSERT in the warehouse, one transaction."""
    run_sql(con, "labels/schema.sql")
    con.register("_failure_points", rows.to_arrow())
    with transaction(con):
        con.execute("DELETE FROM labels.failure_points WHERE day = ?", [DAY])
        run_sql(con, "labels/failure_points_insert.sql", {"day": DAY, "model_version": "1"})
    con.unregister("_failure_points")


COUNT = "SELECT count(*) FROM labels.failure_points WHERE day = ?"


def one_run(folder: Path, rows: pl.DataFrame) -> tuple[dict[str, float], int]:
    """Seconds of each step on a fresh lake and warehouse under `folder`, and the partition's bytes."""
    lake = Lake(str(folder / "lake"))
    lake_con = duckdb.connect(str(folder / "lake_warehouse.duckdb"))
    label_views(lake_con, lake)
    table_con = duckdb.connect(str(folder / "table_warehouse.duckdb"))
    steps = {
        "write": (lambda: replace_day(lake, "failure_points", rows, DAY, "1"), lambda: old_replace_day(table_con, rows)),
        "rewrite": (lambda: replace_day(lake, "failure_points", rows, DAY, "1"), lambda: old_replace_day(table_con, rows)),
        "count": (lambda: lake_con.execute(COUNT, [DAY]).fetchall(), lambda: table_con.execute(COUNT, [DAY]).fetchall()),
        "mix": (lambda: lake_con.execute(MIX, [DAY]).fetchall(), lambda: table_con.execute(MIX, [DAY]).fetchall()),
    }  # fmt: skip
    seconds = {}
    for what, (on_lake, on_table) in steps.items():
        for where, fn in (("lake", on_lake), ("table", on_table)):
            start = time.perf_counter()
            fn()
            seconds[f"{what}: {where}"] = time.perf_counter() - start
    size = Path(lake.partition_file("labels.failure_points", DAY)).stat().st_size
    lake_con.close()
    table_con.close()
    return seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = frame(args.rows)
    times: dict[str, list[float]] = {}
    size = 0
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, size = one_run(Path(tmp), rows)
        for name, value in seconds.items():
            times.setdefault(name, []).append(value)
    print(
        f"labels.failure_points, one day of {args.rows:,} rows; median of {args.runs} runs (lake: view; table: old)"
    )
    for what in ("write", "rewrite", "count", "mix"):
        lake_s, table_s = (
            statistics.median(times[f"{what}: lake"]),
            statistics.median(times[f"{what}: table"]),
        )
        print(f"  {what:8s} lake {lake_s:7.3f} s   table {table_s:7.3f} s   ratio {lake_s / table_s:5.2f}")
    print(f"  partition file: {size / 2**20:.1f} MiB ({size / args.rows:.1f} bytes per row)")


if __name__ == "__main__":
    main()

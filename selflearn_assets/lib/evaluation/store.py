"""The reads and writes of the rewrite evaluation: the deployed table in, `evaluation.json` + `.png` out.

The table judged on day D is the one exported for D-1 (`exports/rewrites/date=D-1/`, mined on the window
ending there); the evidence is D's gold-annotated turns and what the assistant understood each text as on the
successful turns of that window (`dbt_like_sql/evaluation/`). The results go beside the table, replacing any
earlier evaluation of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from selflearn_assets.lib.rewrites import export_folder, read_export
from selflearn_assets.lib.rewrites.export import EVALUATION, TABLE
from selflearn_assets.lib.sql import query_pl

CHART = "evaluation.png"


@dataclass(frozen=True)
class DeployedTable:
    folder: Path  # exports/rewrites/date=D-1/
    table: pl.DataFrame  # rewrites.parquet
    manifest: dict
    day: date  # the last day of the window it was mined on

    @property
    def path(self) -> Path:
        return self.folder / TABLE

    @property
    def window_start(self) -> date:
        return date.fromisoformat(str(self.manifest["window_start"]))


def read_deployed_table(exports_root: str | Path, day: date) -> DeployedTable | None:
    """The rewrite table exported for `day` (checked against its manifest), or None when none was."""
    folder = export_folder(exports_root, day)
    if not (folder / TABLE).exists():
        return None
    table, manifest = read_export(folder)
    return DeployedTable(folder, table, manifest, day)


def read_judged_day(
    con: duckdb.DuckDBPyConnection, day: date, window_start: date, window_end: date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(gold, meanings): the gold-annotated turns of `day` (`rewrite_offline.judge_turns`'s `gold`) and the
    interpretation of each text on the successful turns of [window_start, window_end] (its `interpretations`)."""
    gold = query_pl(con, "evaluation/gold_turns.sql", {"day": day})
    window = {"window_start": window_start, "window_end": window_end}
    return gold, query_pl(con, "evaluation/text_interpretations.sql", window)


def write_evaluation(folder: Path, result: dict, chart: bytes) -> None:
    """`evaluation.json` (written beside and renamed into place: never half a file) and `evaluation.png`."""
    path = folder / EVALUATION
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(json.dumps(result, indent=2, default=str) + "\n")
    os.replace(staging, path)
    (folder / CHART).write_bytes(chart)

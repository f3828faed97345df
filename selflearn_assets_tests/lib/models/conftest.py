"""Shared fixtures of the model tests: one small simulated day, ingested into an in-memory DuckDB."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from selflearn_assets.lib.ingest import ingest_annotations, ingest_turns
from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.simulator import SimConfig, simulate
from selflearn_assets.lib.sql import run_sql

DAY = date(2026, 1, 1)
# 150 users make ~460 sessions (~700 turns); half the sessions are audited (gold + one annotator), so the
# audit holdout (30% of them) has ~70 gold sessions to evaluate on.
SIMULATED_DAY = SimConfig(users=150, days=1, start=DAY, annotation_rate=0.5)


def ingest_simulated(config: SimConfig, raw: Path) -> duckdb.DuckDBPyConnection:
    """Simulate `config` into `raw` and ingest every day (turns and annotations) into a new in-memory DuckDB
    (the clean and quarantined turns into a lake beside `raw`, `<raw>-lake`)."""
    simulate(config, raw, progress=False)
    con = duckdb.connect()
    run_sql(con, "ingest/schema.sql")
    lake = Lake(str(raw.with_name(raw.name + "-lake")))
    for day in (config.start + timedelta(days=i) for i in range(config.days)):
        ingest_turns(con, raw, day, "test-key", lake=lake)
        ingest_annotations(con, raw, day)
    return con


@pytest.fixture(scope="session")
def simulated_day_con(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    """`SIMULATED_DAY` ingested (`ingest.clean_turns`, `ingest.annotations`). Shared by every model test of the
    session: read from it; a test that writes (signals, labels) builds its own with `ingest_simulated`."""
    con = ingest_simulated(SIMULATED_DAY, tmp_path_factory.mktemp("simulated_day"))
    yield con
    con.close()

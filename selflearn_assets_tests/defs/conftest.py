"""Fixtures of the Dagster-level model tests: a simulated day ingested through the ingest assets, and a tiny
random encoder over its words."""

from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.ingest.assets import annotations, raw_turns
from selflearn_assets.defs.ingest.checks import clean_turns_expectations, ingest_accounting
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.models.encoder import tiny_encoder
from selflearn_assets.lib.simulator import SimConfig, simulate


@pytest.fixture
def ingest_day_with_encoder(selflearn_home: Path) -> Callable[[date, int], Path]:
    """`ingest(day, users)`: simulates `day` for `users` users (half of the sessions audited), ingests it
    through the ingest assets and their blocking gates into `<home>/warehouse.duckdb`, and saves a tiny random
    encoder over that day's words as a Hugging Face directory. Returns the encoder's directory."""

    def ingest(day: date, users: int) -> Path:
        config = SimConfig(users=users, start=day, days=1, annotation_rate=0.5)
        simulate(config, selflearn_home / "raw", progress=False)
        resources = {
            "duckdb": DuckDBResource(database=str(selflearn_home / "warehouse.duckdb")),
            "selflearn": SelflearnConfig(
                home=str(selflearn_home), raw_root=str(selflearn_home / "raw"), pseudonym_key="k"
            ),
        }
        # with its blocking gates: later stages read a day only once they passed on it
        result = dg.materialize(
            [raw_turns, annotations, clean_turns_expectations, ingest_accounting],
            partition_key=day.isoformat(),
            resources=resources,
        )
        assert result.success
        with duckdb.connect(str(selflearn_home / "warehouse.duckdb"), read_only=True) as con:
            rows = con.execute("SELECT asr_text, response_text FROM ingest.clean_turns").fetchall()
        tokenizer, model = tiny_encoder([text for row in rows for text in row if text])
        encoder_dir = selflearn_home / "encoder"
        tokenizer.save_pretrained(encoder_dir)
        model.save_pretrained(encoder_dir)
        return encoder_dir

    return ingest

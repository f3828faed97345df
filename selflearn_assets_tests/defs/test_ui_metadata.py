"""What the Dagster UI shows a reader: column schemas described by the schema files' comments, owners and stage
tags, numbers rounded to what matters, paths relative to SELFLEARN_HOME, per-label tables on the release checks,
and a drift check that is declared as blocking as its config makes it."""

import math
from datetime import date

import dagster as dg
import duckdb
import polars as pl
import pytest

from selflearn_assets.definitions import defs
from selflearn_assets.defs.metadata import (
    OWNERS,
    column_schema,
    home_relative,
    markdown_table,
    pct,
    rounded,
    table_definition,
    table_schema,
    thousands,
)
from selflearn_assets.defs.releases.assets import (
    ReleaseConfig,
    quality_table,
    targets_table,
    throughput_table,
)
from selflearn_assets.defs.releases.checks import _result, drift_per_label, precision_per_label
from selflearn_assets.lib.ingest import build_sessions
from selflearn_assets.lib.releases.gates import drift_gate
from selflearn_assets.lib.sql import load_sql, run_sql
from selflearn_assets.lib.sql_schema import Column, schema_tables, table_columns, warehouse_columns

SNIPPET = """
-- A table of the test, with a note before it.
CREATE TABLE IF NOT EXISTS demo.things_archive (
    other VARCHAR               -- not this table
);
CREATE TABLE IF NOT EXISTS demo.things (
    day        DATE NOT NULL,
    id         VARCHAR PRIMARY KEY,    -- the thing's id
    pairs      STRUCT(name VARCHAR, value VARCHAR)[],  -- name/value pairs, in order
    props      MAP(VARCHAR, VARCHAR),
    "precision" DOUBLE,                -- a quoted name (a keyword)
    -- a note on the two columns below, describing neither
    status     VARCHAR NOT NULL DEFAULT 'new--ish',  -- new | old
    nested     STRUCT(
                   a INTEGER,          -- the struct's first field
                   b DOUBLE
               ),
    PRIMARY KEY (day, id),
    last_one   BIGINT                  -- no comma after the last column
);
ALTER TABLE demo.things ADD COLUMN IF NOT EXISTS status VARCHAR;
ALTER TABLE demo.things ADD COLUMN IF NOT EXISTS added JSON;  -- added later
"""

FIVE_TABLES = {
    "clean_turns": "ingest.clean_turns",
    "markov_rewrites": "rewrites.markov_rewrites",
    "turn_labels": "labels.turn_labels",
    "failure_points": "labels.failure_points",
    "label_release": "releases.label_release",
}
# Stages whose schema file describes every column of every table: all of them.
DESCRIBED_STAGES = ("ingest", "signals", "rewrites", "labels", "releases")
# The ingest assets besides clean_turns, and their tables.
INGEST_TABLES = {
    "quarantined_turns": "ingest.quarantined_turns",
    "sessions": "ingest.sessions",
    "annotations": "ingest.annotations",
}


def test_schema_comments_are_parsed_from_a_create_table():
    assert table_columns(SNIPPET, "demo.things") == [
        Column("day", "DATE", "", True),
        Column("id", "VARCHAR", "the thing's id", True),
        Column("pairs", "STRUCT(name VARCHAR, value VARCHAR)[]", "name/value pairs, in order", False),
        Column("props", "MAP(VARCHAR, VARCHAR)", "", False),
        Column("precision", "DOUBLE", "a quoted name (a keyword)", False),
        Column("status", "VARCHAR", "new | old", True),  # the '--' in the default is not a comment
        Column("nested", "STRUCT( a INTEGER, b DOUBLE )", "the struct's first field", False),
        Column("last_one", "BIGINT", "no comma after the last column", False),
        Column("added", "JSON", "added later", False),  # ALTER ... ADD COLUMN; status is not added twice
    ]
    assert table_columns(SNIPPET, "demo.things_archive") == [Column("other", "VARCHAR", "not this table")]
    with pytest.raises(KeyError):
        table_columns(SNIPPET, "demo.thing")
    more = "-- CREATE TABLE demo.old (a INT);\nCREATE VIEW demo.v AS SELECT 1;\ncreate or replace table demo.t(a INT);"
    assert schema_tables(SNIPPET + more) == ["demo.things_archive", "demo.things", "demo.t"]


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for stage in ("ingest", "signals", "rewrites", "labels", "releases"):
        run_sql(con, f"{stage}/schema.sql")
    return con


def test_the_five_tables_have_the_warehouse_columns_described(selflearn_home):
    graph = defs().resolve_asset_graph()
    con = _warehouse()
    for asset, table in FIVE_TABLES.items():
        metadata = graph.get(dg.AssetKey(asset)).metadata  # definition metadata: shown before any run
        schema = metadata["dagster/column_schema"]
        described = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        assert [c.name for c in schema.columns] == described, asset
        assert metadata["dagster/table_name"] == table
    clean = {c.name: c for c in column_schema("ingest.clean_turns").columns}
    assert clean["user_id"].description == "keyed hash of the raw customer id"
    assert clean["user_id"].type == "VARCHAR" and not clean["user_id"].constraints.nullable
    assert clean["device_type"].constraints.nullable and clean["asr_text"].description == 'ASR 1-best ("" for no speech)'
    assert all(c.description for c in clean.values())  # every column of clean_turns is described
    release = {c.name: c for c in column_schema("releases.label_release").columns}
    assert (
        release["label_model_version"].description
        == "selflearn-label-model version that labelled the turn (NULL: the turn has no turn_labels row)"
    )
    # a materialization's schema (DESCRIBE) carries the same descriptions
    runtime = {c.name: c for c in table_schema(con, "rewrites.markov_rewrites").columns}
    assert (
        runtime["precision"].description
        == "calibrated precision on audit gold, shrunk toward its stratum (NULL: no gold in the window)"
    )
    assert runtime["precision"].type == "DOUBLE" and not runtime["day"].constraints.nullable


@pytest.mark.parametrize("stage", DESCRIBED_STAGES)
def test_every_column_of_the_stage_tables_is_described(stage):
    """Every table of `dbt_like_sql/<stage>/schema.sql` is found, its parsed columns are the ones DuckDB creates
    (so each comment sits on its own column, ALTER-added ones included) and each has a description."""
    con = _warehouse()
    tables = schema_tables(load_sql(f"{stage}/schema.sql"))
    created = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [stage]).fetchall()
    assert sorted(tables) == sorted(f"{stage}.{name}" for (name,) in created)
    for table in tables:
        columns = warehouse_columns(table)
        assert [c.name for c in columns] == [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()], table
        assert [c.name for c in columns if not c.comment] == [], table


def test_the_ingest_assets_show_their_described_columns(selflearn_home):
    """The ingest assets other than clean_turns show every column of their table, described, before any run;
    partition_stats, key_fingerprints, key_rotations and quarantined_annotations (no asset of their own) are
    described all the same (test_every_column_of_the_stage_tables_is_described)."""
    graph = defs().resolve_asset_graph()
    con = _warehouse()
    shown = {}
    for asset, table in INGEST_TABLES.items():
        metadata = graph.get(dg.AssetKey(asset)).metadata
        columns = {c.name: c for c in metadata["dagster/column_schema"].columns}
        assert list(columns) == [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()], asset
        assert all(c.description for c in columns.values()), asset
        assert metadata["dagster/table_name"] == table
        shown[asset] = columns
    line = shown["quarantined_turns"]["source_line"]
    assert line.description == "1-based line (or row, for Parquet) in source_file; 0: the file was not read"
    assert line.type == "BIGINT" and not line.constraints.nullable
    device_type = shown["sessions"]["device_type"]
    assert device_type.description == "of the first turn that day that logged one (NULL: none did)"
    assert device_type.constraints.nullable
    gold = shown["annotations"]["is_gold"]
    assert gold.description == "annotator = 'gold' (adjudicated label of three annotators)"
    # a table without an asset, as a materialization's DESCRIBE shows it (the ALTER-added columns too)
    stats = {c.name: c for c in table_schema(con, "ingest.partition_stats").columns}
    lost = stats["lines_lost_estimate"].description
    assert lost.endswith("the sum over lost_files of lines_estimate - 1")
    assert stats["lost_files"].type == "JSON" and stats["lost_files"].constraints.nullable
    assert not stats["day"].constraints.nullable


def test_the_session_descriptions_hold_on_a_hand_made_day():
    """What ingest.sessions' comments say, on one session of three turns whose first has no device_type: user
    and device of the first turn, device_type of the first turn that logged one, duration end_ts - start_ts."""
    con = _warehouse()
    turns = [  # event_id, user_id, device_id, ts, device_type, response_status
        ("e1", "u1", "d1", "2026-01-05 10:00:00", None, "error"),
        ("e2", "u2", "d2", "2026-01-05 10:00:30", "tv", "clarify"),
        ("e3", "u3", "d3", "2026-01-05 10:01:10", "car", "no_response"),
    ]
    con.executemany(
        "INSERT INTO ingest.clean_turns BY NAME SELECT DATE '2026-01-05' AS day, ? AS event_id, 's1' AS session_id,"
        " ? AS user_id, ? AS device_id, ?::TIMESTAMP AS ts, '' AS asr_text, ? AS device_type, 'en-US' AS locale,"
        " ? AS response_status, 'a.jsonl' AS source_file, 1 AS source_line",
        turns,
    )
    assert build_sessions(con, date(2026, 1, 5)) == 1
    row = con.execute(
        "SELECT user_id, device_id, device_type, n_turns, n_error, n_clarify, duration_s FROM ingest.sessions"
    ).fetchone()
    assert row == ("u1", "d1", "tv", 3, 2, 1, 70.0)  # error + no_response are errors; 10:00:00 -> 10:01:10
    described = {c.name: c.comment for c in warehouse_columns("ingest.sessions")}
    assert described["user_id"] == "keyed hash of the customer id of the session's first turn that day"
    assert described["duration_s"] == "end_ts - start_ts in seconds (0 for a single turn)"


def test_an_asset_shows_the_tables_it_writes_beside_its_own(selflearn_home):
    metadata = table_definition(
        "releases.label_release", "releases.release_quality", "releases.release_builds"
    )
    assert set(metadata) == {
        "dagster/table_name",
        "dagster/column_schema",
        "columns: releases.release_quality",
        "columns: releases.release_builds",
    }

    @dg.asset(metadata=metadata)
    def release_like() -> None: ...

    shown = dg.Definitions(assets=[release_like]).resolve_asset_graph().get(dg.AssetKey("release_like"))
    shown = shown.metadata  # definition metadata, as the UI shows it before any run
    quality = {c.name: c for c in shown["columns: releases.release_quality"].columns}
    assert quality["coverage_audit"].description == "audit_released / audit_turns (0: no threshold)"
    assert quality["status"].type == "VARCHAR" and not quality["status"].constraints.nullable
    assert quality["drift_against"].description == "day of that previous published release (NULL: none)"
    builds = shown["columns: releases.release_builds"].columns
    assert [c.name for c in builds[:3]] == ["day", "params", "audit_source"]
    assert shown["dagster/table_name"] == "releases.label_release"


def test_every_asset_has_owners_and_its_stage_tag(selflearn_home):
    graph = defs().resolve_asset_graph()
    checked = 0
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        assert node.owners == OWNERS, key
        assert node.tags.get("stage") == node.group_name, key
        checked += 1
    assert checked >= 17  # the three models too


def test_numbers_are_rounded_for_a_reader():
    assert rounded(0.95678) == 0.957
    assert rounded(0.0123456) == 0.0123  # 3 significant digits under 0.1
    assert rounded(0.00004321) == 0.0000432
    assert rounded(1234.5678) == 1234.568
    assert rounded(12.3456, 2) == 12.35
    assert rounded({"a": [0.12345, None, True, 3], "b": (2.0, 0.5)}) == {
        "a": [0.123, None, True, 3],
        "b": [2.0, 0.5],
    }
    assert math.isnan(rounded(float("nan"))) and rounded(0.0) == 0.0 and rounded("0.12345") == "0.12345"
    assert pct(0.1234) == "12.3%" and pct(1.0) == "100.0%" and pct(None) == ""
    assert thousands(1234567) == "1,234,567" and thousands(None) == ""
    table = markdown_table(
        ["n", "x", "flag", "none", "ci", "text"], [(1234567, 0.5, True, None, [0.1234, 2], "a|b")]
    )
    assert table.splitlines() == [
        "| n | x | flag | none | ci | text |",
        "|---|---|---|---|---|---|",
        "| 1,234,567 | 0.500 | True |  | [0.123, 2] | a\\|b |",
    ]


def test_paths_are_relative_to_the_home(tmp_path):
    home = tmp_path / "x"
    folder = home / "exports" / "labels" / "date=2026-11-01"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    assert home_relative(folder, home) == "exports/labels/date=2026-11-01/"
    assert (
        home_relative(folder / "manifest.json", str(home)) == "exports/labels/date=2026-11-01/manifest.json"
    )
    assert home_relative(tmp_path / "elsewhere", home) == str(tmp_path / "elsewhere")  # outside: as it is


def _quality() -> pl.DataFrame:
    """Two labels: intent released (precision 0.95 >= target 0.9, lower bound 0.8, drift 0.3 over 0.2), slots
    withheld (no threshold), as `releases.release_quality` holds them."""
    return pl.DataFrame(
        [
            {
                "label": "intent",
                "status": "released",
                "threshold": 0.41234,
                "target": 0.9,
                "target_source": "annotator",
                "precision_floor": 0.8,
                "annotator_precision": 0.9,
                "precision": 0.95,
                "precision_low": 0.80012,
                "precision_heldout": 0.9375,
                "precision_heldout_low": 0.7123,
                "coverage_audit": 0.8,
                "coverage_day": 0.93333,
                "audit_turns": 1200,
                "heldout_turns": 16,
                "drift": 0.3,
                "drift_against": None,
                "gold_agreement": 0.9,
                "gold_turns": 20,
            },
            {
                "label": "slots",
                "status": "withheld",
                "threshold": None,
                "target": 0.9,
                "target_source": "floor",
                "precision_floor": 0.9,
                "annotator_precision": 0.85,
                "precision": None,
                "precision_low": None,
                "precision_heldout": None,
                "precision_heldout_low": None,
                "coverage_audit": 0.0,
                "coverage_day": 0.0,
                "audit_turns": 20,
                "heldout_turns": None,
                "drift": 0.05,
                "drift_against": None,
                "gold_agreement": None,
                "gold_turns": 3,
            },
        ]
    )


def test_release_quality_tables_show_the_bounds_and_fit():
    quality = _quality()
    tables = [quality_table(quality), targets_table(quality), throughput_table(quality)]
    assert all(t.splitlines()[0].count("|") - 1 <= 5 for t in tables)  # fits the UI's metadata column
    assert "| intent | 0.900 | 0.950 (0.800) | 0.938 (0.712) |" in tables[0]
    assert "| slots (withheld) | 0.900 |  |  |" in tables[0]
    assert "| intent | 0.412 | annotator | 0.800 | 0.900 |" in tables[1]
    assert "| slots |  | floor | 0.900 | 0.850 |" in tables[1]
    assert "| intent | 80.0% | 93.3% | 1,200 (16) | 0.300 |" in tables[2]
    assert "| slots | 0.0% | 0.0% | 20 | 0.050 |" in tables[2]
    per_label = precision_per_label(quality)
    assert "| intent | 0.950 (0.800) | 0.900 | 0.800 | 0.938 (0.712) |" in per_label
    assert "| slots (withheld) |  | 0.900 | 0.900 |  |" in per_label
    drift = drift_per_label(quality, 0.2)
    assert "| intent | 0.300 | 0.200 | no |" in drift and "| slots | 0.050 | 0.200 | yes |" in drift


def test_the_drift_check_is_declared_as_blocking_as_its_default_config(selflearn_home):
    graph = defs().resolve_asset_graph()
    spec = graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey("label_release"), "label_release_drift"))
    assert spec.blocking is ReleaseConfig().drift_blocking is False
    assert (
        "A warning" in spec.description
        and "unless label_release ran with `drift_blocking: true`" in " ".join(spec.description.split())
    )
    quality = _quality().with_columns(drift_against=pl.lit("2026-11-01").str.to_date())
    warned = _result(drift_gate(quality, 0.2, blocking=False))
    blocked = _result(drift_gate(quality, 0.2, blocking=True))
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert not blocked.passed and blocked.severity == dg.AssetCheckSeverity.ERROR
    assert (
        warned.metadata["drift_blocking"].value is False and blocked.metadata["drift_blocking"].value is True
    )

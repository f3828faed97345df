"""Every SQL file of `dbt_like_sql/` binds and runs against the full warehouse schema.

A fresh DuckDB gets every stage's schema (SCHEMAS). The relations that callers register from Arrow or polars
(raw lines, file lists, Parquet rows, normalised texts, phonetic keys, model scores, mined rewrites, wanted
texts) are registered empty, with the columns the callers give them (REGISTERED); the embedding store's
Parquet shards are one empty shard with the store's columns. Four frames that models and releases build in Python and
insert whole (FRAMES) stand in as empty views of their target table's own columns: for those files this checks
the column list against the table, not the Python frame (their asset tests write real frames). The files that make temp macros and temp tables for later files (SETUP) run
next, in the order the callers run them. Then each file runs, with a representative value for every parameter
it names (PARAMS) and once for each value of every `{{ identifier }}` it names (IDENTIFIERS), inside a
transaction that is rolled back. Every `.sql` file under `dbt_like_sql/` is found by a glob, so a new one is
tested without being listed here. The tables are empty: this catches what binding
catches (a renamed column or table, a view or macro that no longer fits, a type mismatch in an expression, a
parameter without a value), not a conversion that only a row would reach. No file is skipped.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selflearn_assets.lib.ingest.lines import LINES_SCHEMA
from selflearn_assets.lib.labels.store import LABEL_TABLES
from selflearn_assets.lib.markov.mine import REWRITE_COLUMNS
from selflearn_assets.lib.online.store import ENTRY_TABLES
from selflearn_assets.lib.signals.calibration import DefectModel
from selflearn_assets.lib.signals.params import SignalParams
from selflearn_assets.lib.sql import identifier_names, load_sql, render_sql, run_sql, sql_root
from selflearn_assets.lib.teaching.store import TABLES as TEACHING_TABLES

DAY, WINDOW_START = date(2026, 1, 2), date(2025, 12, 27)

# Stage schemas, in dependency order (day_gates.sql: views over ingest tables, created by lib/ingest/gates.py).
SCHEMAS = [
    "ingest/schema.sql",
    "ingest/day_gates.sql",
    "signals/schema.sql",
    "labels/schema.sql",
    "rewrites/schema.sql",
    "releases/schema.sql",
    "online/schema.sql",
    "teaching/schema.sql",
]


def empty(**columns: pa.DataType) -> pa.Table:
    return pa.table({name: pa.array([], type_) for name, type_ in columns.items()})


S, I32, I64, F64 = pa.string(), pa.int32(), pa.int64(), pa.float64()
# Relations the callers register before running the files that read them (empty here, same columns).
REGISTERED = {
    "turn_lines": LINES_SCHEMA.empty_table(),  # lib/ingest/turns.py (validated_turns macros bind to it)
    "annotation_lines": LINES_SCHEMA.empty_table(),  # lib/ingest/annotations.py
    "turn_files": empty(file_idx=I32, source_file=S, read_error=S, file_reason=S),
    "annotation_files": empty(file_idx=I32, source_file=S, read_error=S),
    "duplicate_lines": empty(source_file=S, source_line=I64, text=pa.large_string()),
    "parquet_rows": empty(event_id=S, ts=S, asr_text=S, asr_confidence=F64),  # lib/ingest/lines.py
    "_signals_norm_text": empty(event_id=S, norm_text=S),  # lib/signals/defects.py
    "_signals_phonetic": empty(norm_text=S, phonetic=S),  # lib/signals/rephrase.py
    "_signals_model_scores": empty(first_event_id=S, second_event_id=S, model_score=F64),
    "_mined_rewrites": pl.DataFrame(schema=REWRITE_COLUMNS).to_arrow(),  # lib/rewrites/store.py
    "_wanted": empty(text=S),  # lib/models/embedding_store.py
}
# The columns of an embedding store shard (lib/models/embedding_store.py; vectors of any fixed size).
SHARD = empty(text=S, vector=pa.list_(pa.float32(), 4))

# Frames inserted whole (registered name -> target table, columns the file adds itself).
FRAMES = {
    "_turn_labels": ("labels.turn_labels", "day, model_version"),  # labels/turn_labels_insert.sql
    "_failure_points": ("labels.failure_points", "day, model_version"),  # labels/failure_points_insert.sql
    "_label_release": ("releases.label_release", "day"),  # releases/label_release_insert.sql
    "_release_quality": ("releases.release_quality", "day"),  # releases/release_quality_insert.sql
    "_online_global": ("online.global_entries", "day"),  # online/global_entries_insert.sql
    "_online_personal": ("online.personal_entries", "day"),  # online/personal_entries_insert.sql
    "_online_verdicts": ("online.rewrite_verdicts", "day"),  # online/rewrite_verdicts_insert.sql
    **{f"_teaching_{t}": (f"teaching.{t}", "day") for t in TEACHING_TABLES},  # teaching/<table>_insert.sql
}

# Files that create temp macros or temp tables later files read, in the callers' order (lib/ingest/turns.py,
# lib/ingest/annotations.py, lib/signals/defects.py, lib/signals/rephrase.py, lib/privacy/warehouse.py).
SETUP = [
    "ingest/macros.sql",
    "ingest/validated_turns.sql",
    "ingest/fast_validated_turns.sql",
    "ingest/day_tables.sql",  # temp tables day_clean_turns, day_quarantined_turns (lib/ingest/store.py)
    "ingest/staged_annotations.sql",  # temp table staged_annotations (annotations.sql)
    "ingest/duplicate_turns.sql",  # temp table duplicate_turns (quarantined_duplicates.sql)
    "signals/defect_features.sql",  # temp table _signals_defect_features (defect_signals, defect_gold)
    "signals/rephrase_pairs.sql",  # temp table _signals_rephrase_pairs (rephrase_candidates)
    "privacy/quarantined_line_macro.sql",  # temp macro their_quarantined_line (lib/privacy/warehouse.py)
]

_SIGNALS = SignalParams()
PARAMS: dict = {
    # days and windows
    "day": DAY,
    "days": [WINDOW_START, DAY],
    "start": WINDOW_START,
    "window_start": WINDOW_START,
    "window_end": DAY,
    "audit_days": [DAY],
    "fitted_on_days": [WINDOW_START, DAY],
    "days_with_data": 2,
    # ingestion
    "pseudonym_key": "test-key",
    "max_line_bytes": 10_000,
    "files": 1,
    "lines_read": 3,
    "lines_lost_estimate": 0,
    "lost_files": "[]",
    "fingerprint": "0123abcd",
    "old_fingerprint": "0123abcd",
    "new_fingerprint": "4567ef01",
    "meaning": "test rotation",
    # signals (the defaults the assets use)
    **{f.name: getattr(_SIGNALS, f.name) for f in dataclasses.fields(_SIGNALS)},
    **_SIGNALS.rephrase_weights,
    **DefectModel.prior(_SIGNALS).sql_params(),
    "max_gap_s": _SIGNALS.rephrase_max_gap_s,
    "max_turn_distance": _SIGNALS.rephrase_max_turn_distance,
    "model_weight": _SIGNALS.rephrase_model_weight,
    "threshold": _SIGNALS.rephrase_threshold,
    "weights": '{"bias": -2.9}',
    "metrics": "{}",
    # models, labels, releases, rewrites
    "follow_s": 30.0,
    "model_version": "1",
    "by": "domain",
    "limit": 10,
    "params": "{}",
    "audit_source": "day",
    "audit_turns": 40,
    "clean_turns": 100,
    "turns_without_labels": 0,
    "turns_without_failure_point": 0,
    "previous_release": None,
    "deployed_from": None,
    "report": "{}",
    # readable days, key rotations, the models' window
    "end": DAY,
    "check_name": "ingest_accounting",
    "passed": True,
    "description": "all expectations met",
    "window_days": 14,
    # "shards" (the embedding store's Parquet files) is added by the `params` fixture
}

# Every value an identifier (`{{ name }}`) takes: the lists the callers pick them from.
IDENTIFIERS = {
    "table": LABEL_TABLES,  # labels/coverage_counts.sql (lib/labels/store.py)
    "layer_table": ENTRY_TABLES,  # online/entries_of_day.sql (lib/online/store.py)
    "teaching_table": TEACHING_TABLES,  # teaching/of_day.sql (lib/teaching/store.py)
}

SQL_FILES = sorted(p.relative_to(sql_root()).as_posix() for p in sql_root().rglob("*.sql"))


def _cases(name: str) -> list:
    """One case per combination of the values of the identifiers the file names; an identifier without
    values in IDENTIFIERS is left unset, so that its file fails saying so."""
    names = sorted(identifier_names(load_sql(name)) & IDENTIFIERS.keys())
    combos = [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(IDENTIFIERS[n] for n in names))
    ]
    return [
        pytest.param(name, combo, id=name + "".join(f"[{k}={v}]" for k, v in combo.items()))
        for combo in combos
    ]


SQL_CASES = [case for name in SQL_FILES for case in _cases(name)]


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    shard = tmp_path_factory.mktemp("embeddings") / "shard.parquet"
    pq.write_table(SHARD, shard)
    return {**PARAMS, "shards": [str(shard)]}


@pytest.fixture(scope="module")
def warehouse(params):
    con = duckdb.connect()
    for name in SCHEMAS:
        run_sql(con, name, params)
    for name, table in REGISTERED.items():
        con.register(name, table)
    for name, (table, added) in FRAMES.items():
        con.execute(f"CREATE TEMP VIEW {name} AS SELECT * EXCLUDE ({added}) FROM {table} WHERE false")
    for name in SETUP:
        run_sql(con, name, params)
    yield con
    con.close()


def test_the_lists_name_real_files():
    assert set(SCHEMAS + SETUP) <= set(SQL_FILES)
    assert {f for f in SQL_FILES if f.endswith("/schema.sql")} <= set(SCHEMAS)


def test_every_file_is_a_case_and_identifiers_take_every_value():
    assert {case.values[0] for case in SQL_CASES} == set(SQL_FILES)
    coverage = [case.values[1] for case in SQL_CASES if case.values[0] == "labels/coverage_counts.sql"]
    assert coverage == [{"table": "turn_labels"}, {"table": "failure_points"}]


@pytest.mark.parametrize(("name", "identifiers"), SQL_CASES)
def test_sql_file_runs_on_the_full_schema(warehouse, params, name, identifiers):
    warehouse.begin()
    try:
        # a parameter or identifier without a value fails here too (KeyError names it)
        run_sql(warehouse, name, params, identifiers)
    finally:
        warehouse.rollback()


def test_rolled_back_files_leave_no_rows(warehouse):
    """The writes above ran in transactions that were rolled back: the warehouse is still empty."""
    tables = warehouse.sql(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY ALL"
    ).fetchall()
    assert ("ingest", "annotations") in tables and ("releases", "release_builds") in tables
    counts = {t: warehouse.sql(f'SELECT count(*) FROM "{s}"."{t}"').fetchall()[0][0] for s, t in tables}
    assert counts == dict.fromkeys(counts, 0)


def test_identifiers_go_in_quoted_and_only_as_plain_names():
    """`{{ table }}` becomes the quoted name; anything but a plain SQL name is refused before it reaches SQL."""
    text = render_sql("labels/coverage_counts.sql", {"table": "failure_points"})
    assert 'FROM labels."failure_points" AS l' in text and "{{" not in text
    for bad in ("failure_points; DROP TABLE ingest.clean_turns", 'x"y', "labels.failure_points", ""):
        with pytest.raises(ValueError, match="not a plain SQL name"):
            render_sql("labels/coverage_counts.sql", {"table": bad})
    with pytest.raises(KeyError, match="identifier"):
        render_sql("labels/coverage_counts.sql")

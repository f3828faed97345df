"""The annotation pivot `ingest.turn_annotations` (dbt_like_sql/ingest/schema.sql) on hand-made annotations.

Every reader of gold and single-annotator labels goes through this view, so it is checked row by row here: one
row per (day, event_id), gold from `is_gold`, the single annotator with the smallest id, labels typed per task.
"""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from selflearn_assets.lib.ingest import ingest_annotations
from selflearn_assets.lib.sql import run_sql

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)
TASKS = ("failure_point", "goal_start", "goal_success", "intent", "slots", "rephrase_of", "intended_text")

# (day, event_id, task, annotator, label as a Python value: stored as JSON; None = JSON null = SQL NULL)
ANNOTATIONS = [
    # e1: gold and two single annotators on most tasks; ann_1 sorts before ann_2, so ann_1 is "the" annotator
    (D1, "e1", "failure_point", "gold", "asr"),
    (D1, "e1", "failure_point", "ann_2", "correct"),
    (D1, "e1", "failure_point", "ann_1", "nlu"),
    (D1, "e1", "goal_start", "gold", True),
    (D1, "e1", "goal_start", "ann_2", False),  # ann_1 did not label goal_start: ann_2 is the first who did
    (D1, "e1", "goal_success", "gold", False),
    (D1, "e1", "goal_success", "ann_1", True),
    (D1, "e1", "intent", "gold", "music.play"),
    (D1, "e1", "intent", "ann_1", "music.stop"),
    (D1, "e1", "slots", "gold", [{"name": "artist", "value": "Queen"}, {"name": "album", "value": "Jazz"}]),
    (D1, "e1", "slots", "ann_1", []),
    (D1, "e1", "rephrase_of", "gold", None),  # annotated: rephrases no earlier turn
    (D1, "e1", "rephrase_of", "ann_1", "e0"),
    (D1, "e1", "intended_text", "gold", "play jazz by queen"),
    # e2: gold only
    (D1, "e2", "goal_success", "gold", True),
    (D1, "e2", "rephrase_of", "gold", "e1"),
    (D1, "e2", "slots", "gold", [{"name": "city", "value": "Oslo", "unit": "x"}]),  # extra key dropped
    # e3: a single annotator only; its rephrase_of is null, the second annotator's is not: the first still wins
    (D1, "e3", "intent", "ann_7", "weather.get"),
    (D1, "e3", "rephrase_of", "ann_7", None),
    (D1, "e3", "rephrase_of", "ann_9", "e2"),
    # e1 again on another day: its own row, nothing merged with D1's
    (D2, "e1", "failure_point", "gold", "result"),
]

NULLS = {f"{who}_{task}": None for who in ("gold", "ann") for task in TASKS}
EXPECTED = [
    {
        **NULLS,
        "day": D1,
        "event_id": "e1",
        "has_gold": True,
        "gold_failure_point": "asr",
        "ann_failure_point": "nlu",
        "gold_goal_start": True,
        "ann_goal_start": False,
        "gold_goal_success": False,
        "ann_goal_success": True,
        "gold_intent": "music.play",
        "ann_intent": "music.stop",
        "gold_slots": [{"name": "artist", "value": "Queen"}, {"name": "album", "value": "Jazz"}],
        "ann_slots": [],
        "has_gold_rephrase_of": True,
        "has_ann_rephrase_of": True,
        "gold_rephrase_of": None,
        "ann_rephrase_of": "e0",
        "gold_intended_text": "play jazz by queen",
    },
    {
        **NULLS,
        "day": D1,
        "event_id": "e2",
        "has_gold": True,
        "gold_goal_success": True,
        "gold_slots": [{"name": "city", "value": "Oslo"}],
        "has_gold_rephrase_of": True,
        "has_ann_rephrase_of": False,
        "gold_rephrase_of": "e1",
    },
    {
        **NULLS,
        "day": D1,
        "event_id": "e3",
        "has_gold": False,
        "ann_intent": "weather.get",
        "has_gold_rephrase_of": False,
        "has_ann_rephrase_of": True,
        "ann_rephrase_of": None,
    },
    {
        **NULLS,
        "day": D2,
        "event_id": "e1",
        "has_gold": True,
        "gold_failure_point": "result",
        "has_gold_rephrase_of": False,
        "has_ann_rephrase_of": False,
    },
]


@pytest.fixture
def con():
    con = duckdb.connect()
    run_sql(con, "ingest/schema.sql")
    yield con
    con.close()


def insert(con, rows) -> None:
    """Rows as ingestion stores them: label JSON (JSON null -> SQL NULL), is_gold = annotator 'gold'."""
    for line, (day, event_id, task, annotator, label) in enumerate(rows, start=1):
        label = None if label is None else json.dumps(label)
        con.execute(
            "INSERT INTO ingest.annotations VALUES (?, ?, ?, ?, ?::JSON, ?, 'hand.jsonl', ?)",
            [day, event_id, task, annotator, label, annotator == "gold", line],
        )


def pivot(con) -> list[dict]:
    return con.sql("SELECT * FROM ingest.turn_annotations ORDER BY day, event_id").pl().to_dicts()


def test_pivot_row_by_row(con):
    insert(con, ANNOTATIONS)
    rows = pivot(con)
    assert [(r["day"], r["event_id"]) for r in rows] == [(D1, "e1"), (D1, "e2"), (D1, "e3"), (D2, "e1")]
    for got, want in zip(rows, EXPECTED, strict=True):
        assert got == want, want["event_id"]


def test_pivot_column_types(con):
    types = dict(r[:2] for r in con.sql("DESCRIBE ingest.turn_annotations").fetchall())
    assert types["day"] == "DATE" and types["has_gold"] == "BOOLEAN"
    for who in ("gold", "ann"):
        assert types[f"{who}_goal_start"] == types[f"{who}_goal_success"] == "BOOLEAN"
        assert types[f"{who}_slots"] == 'STRUCT("name" VARCHAR, "value" VARCHAR)[]'
        for task in ("failure_point", "intent", "rephrase_of", "intended_text"):
            assert types[f"{who}_{task}"] == "VARCHAR"
        assert types[f"has_{who}_rephrase_of"] == "BOOLEAN"
    flags = {"has_gold", "has_gold_rephrase_of", "has_ann_rephrase_of"}
    assert set(types) == {"day", "event_id"} | flags | set(NULLS)


def test_gold_is_the_stored_flag(con):
    """The one definition: `is_gold`, which ingestion sets from the contract's annotator 'gold'. A row whose flag
    says otherwise (only hand-inserted rows can) follows the flag, never the annotator name."""
    con.execute(
        "INSERT INTO ingest.annotations VALUES (?, 'e9', 'intent', 'gold', '\"a.b\"', false, 'hand.jsonl', 1), "
        "(?, 'e9', 'intent', 'adjudicated', '\"c.d\"', true, 'hand.jsonl', 2)",
        [D1, D1],
    )
    [row] = pivot(con)
    assert (row["gold_intent"], row["ann_intent"], row["has_gold"]) == ("c.d", "a.b", True)


def test_ingested_file_round_trip(con, tmp_path):
    """Contract lines -> ingest_annotations -> the pivot: annotator "gold" is gold, the others single annotators."""
    folder = tmp_path / "annotations" / f"date={D1}"
    folder.mkdir(parents=True)
    lines = [
        {"event_id": event_id, "task": task, "annotator": annotator, "label": label}
        for day, event_id, task, annotator, label in ANNOTATIONS
        if day == D1
    ]
    (folder / "part-0.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    stats = ingest_annotations(con, tmp_path, D1)
    assert (stats.clean_rows, stats.quarantined_rows) == (len(lines), 0)
    assert pivot(con) == EXPECTED[:3]


def test_empty_and_day_filter(con):
    assert pivot(con) == []
    insert(con, ANNOTATIONS)
    sql = "SELECT event_id, gold_failure_point FROM ingest.turn_annotations WHERE day = ?"
    assert con.sql(sql, params=[D2]).fetchall() == [("e1", "result")]

"""Evaluation gold of every turn of a day, when the raw root has it (`_gold/date=D/`).

A simulated world (corpus or synthetic) can leave, beside the raw logs, one `gold` annotation record
per turn and task in `<raw root>/_gold/date=D/*.jsonl` (the annotation contract's format). The pipeline
never reads it: only judges and benches do, to count outcomes on *all* turns of a judged day rather
than on the audit sample. Real logs have no such folder.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_expr

GOLD_FOLDER = "_gold"
_TASKS = ("failure_point", "intended_text", "intent", "slots")
GOLD_COLUMNS = ("event_id", "asr_text", "failure_point", "intended_text", "gold_intent", "gold_slots")


def gold_folder(raw_root: str | Path, day: date) -> Path:
    return Path(raw_root) / GOLD_FOLDER / f"date={day.isoformat()}"


def has_world_gold(raw_root: str | Path, day: date) -> bool:
    return any(gold_folder(raw_root, day).glob("*.jsonl"))


def slot_key(slots: pl.Expr) -> pl.Expr:
    """A list of {name, value} structs as a canonical "name=value;..." key: names lowercased, values
    normalised like utterances, sorted (what "the same slots" means to the judges)."""
    pair = pl.element().struct.field("name").str.to_lowercase() + "=" + normalize_expr(
        pl.element().struct.field("value")
    )
    return slots.list.eval(pair).list.sort().list.join(";").fill_null("")


def read_world_gold(raw_root: str | Path, day: date) -> pl.DataFrame:
    """One row per turn of `day` (`GOLD_COLUMNS`): its ASR text from the raw logs and its gold failure
    point, intended text, intent and slots (`slot_key`). Empty when the raw root has no world gold."""
    folder = gold_folder(raw_root, day)
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        return pl.DataFrame(schema=dict.fromkeys(GOLD_COLUMNS, pl.String))
    labels: dict[str, dict] = {}
    for path in files:
        with open(path, "rb") as fh:
            for line in fh:
                rec = orjson.loads(line)
                if rec.get("annotator") == "gold" and rec.get("task") in _TASKS:
                    labels.setdefault(rec["event_id"], {})[rec["task"]] = rec.get("label")
    rows = [
        {
            "event_id": event_id,
            "failure_point": got.get("failure_point"),
            "intended_text": got.get("intended_text"),
            "gold_intent": got.get("intent"),
            "slots": [
                {"name": str(s.get("name", "")), "value": str(s.get("value", ""))}
                for s in (got.get("slots") or [])
                if isinstance(s, dict)
            ],
        }
        for event_id, got in labels.items()
    ]
    gold = pl.DataFrame(
        rows,
        schema={
            "event_id": pl.String,
            "failure_point": pl.String,
            "intended_text": pl.String,
            "gold_intent": pl.String,
            "slots": pl.List(pl.Struct({"name": pl.String, "value": pl.String})),
        },
    ).with_columns(slot_key(pl.col("slots")).alias("gold_slots"))
    turns = pl.concat(
        [
            pl.read_ndjson(f, schema_overrides={"event_id": pl.String, "asr_text": pl.String}).select(
                "event_id", "asr_text"
            )
            for f in sorted((Path(raw_root) / f"date={day.isoformat()}").glob("*.jsonl"))
        ]
    )
    return turns.join(gold, on="event_id", how="inner").select(GOLD_COLUMNS)

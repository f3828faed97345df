"""What each customer taught: the runtime's log and the teachings mined from the logs, as one history.

Two sources tell what a (pseudonymised) user taught for a key:
- **runtime**: the items the runtime stored when the assistant told it (`Rewriter.teach`, its runtime log
  `$SELFLEARN_HOME/online/preferences.jsonl`); provenance: the event id the assistant gave;
- **mined**: the teaching turns found in the logs (`moments`) and what they taught (`extract`), with the
  extractor's confidence; provenance: the turn's event id.

`reconcile(earlier, runtime, mined)` merges them into `PREFERENCE_COLUMNS` rows, one per teaching:

| source         | when                                                                                 |
|----------------|--------------------------------------------------------------------------------------|
| runtime+mined  | the same event in both: the runtime's value (what is served); `agrees` says whether   |
|                | the mined value is the same (normalised)                                             |
| runtime        | only the runtime has it (taught through the service or the CLI, or not in the logs)  |
| mined          | only the logs show it (a teaching the assistant did not pass on to the runtime)      |

Per (user, key) the teachings are ordered by time; each is valid until the next one (`valid_to`), the last is
`current`. `earlier` (the previous day's rows) carries what was known before, so the history keeps growing;
a teaching is one row however often it is seen (keyed by event id).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_utterance

PREFERENCE_COLUMNS = {
    "user_id": pl.String,
    "key": pl.String,
    "value": pl.String,
    "source": pl.String,  # runtime | mined | runtime+mined
    "event_id": pl.String,
    "confidence": pl.Float64,
    "agrees": pl.Boolean,  # runtime+mined: the mined value is the runtime's (normalised); else NULL
    "valid_from": pl.Datetime("us"),
    "valid_to": pl.Datetime("us"),  # NULL: the current value
    "current": pl.Boolean,
}
ITEM_COLUMNS = {"user_id": pl.String, "key": pl.String, "value": pl.String, "event_id": pl.String,
                "confidence": pl.Float64, "ts": pl.Datetime("us")}  # fmt: skip


def runtime_items(rows: list[dict]) -> pl.DataFrame:
    """`PreferenceStore.rows()` (the runtime log replayed) as `ITEM_COLUMNS` (naive UTC times)."""
    out = [{"user_id": r["user_id"], "key": r["key"], "value": r["value"], "event_id": r["event_id"],
            "confidence": float(r.get("confidence", 1.0)),
            "ts": datetime.fromisoformat(r["valid_from"]).replace(tzinfo=None)} for r in rows]  # fmt: skip
    return pl.DataFrame(out, schema=ITEM_COLUMNS) if out else pl.DataFrame(schema=ITEM_COLUMNS)


def reconcile(earlier: pl.DataFrame | None, runtime: pl.DataFrame, mined: pl.DataFrame) -> pl.DataFrame:
    """The history of every (user, key) from the previous rows, the runtime's items and the mined ones (both
    `ITEM_COLUMNS`); `PREFERENCE_COLUMNS`, sorted by user, key and time."""
    runtime = runtime.cast(ITEM_COLUMNS).unique("event_id", keep="last")
    mined = mined.cast(ITEM_COLUMNS).unique("event_id", keep="last")
    both = runtime.join(
        mined.select("event_id", pl.col("value").alias("mined_value"), pl.col("confidence").alias("mined_conf")),
        on="event_id",
        how="left",
    )
    normal = pl.col("value").map_elements(normalize_utterance, return_dtype=pl.String)
    mined_normal = pl.col("mined_value").map_elements(normalize_utterance, return_dtype=pl.String)
    from_runtime = both.with_columns(
        source=pl.when(pl.col("mined_value").is_not_null()).then(pl.lit("runtime+mined")).otherwise(pl.lit("runtime")),
        agrees=pl.when(pl.col("mined_value").is_not_null()).then(normal == mined_normal),
    ).drop("mined_value", "mined_conf")
    only_mined = mined.join(runtime.select("event_id"), on="event_id", how="anti").with_columns(
        source=pl.lit("mined"), agrees=pl.lit(None, dtype=pl.Boolean)
    )
    items = pl.concat([from_runtime, only_mined], how="diagonal_relaxed").rename({"ts": "valid_from"})
    if earlier is not None and earlier.height:
        known = earlier.join(items.select("event_id"), on="event_id", how="anti")
        items = pl.concat([known.drop("valid_to", "current"), items], how="diagonal_relaxed")
    items = items.sort("user_id", "key", "valid_from", "event_id")
    items = items.with_columns(valid_to=pl.col("valid_from").shift(-1).over("user_id", "key"))
    items = items.with_columns(current=pl.col("valid_to").is_null())
    return items.select(list(PREFERENCE_COLUMNS)).cast(PREFERENCE_COLUMNS)


def mined_items(found: pl.DataFrame, turns: pl.DataFrame) -> pl.DataFrame:
    """Extractions (`extract.EXTRACTION_COLUMNS`) as `ITEM_COLUMNS`, timed by their turn."""
    if not found.height:
        return pl.DataFrame(schema=ITEM_COLUMNS)
    return (
        found.join(turns.select("event_id", pl.col("ts").cast(pl.Datetime("us"))), on="event_id", how="left")
        .select("user_id", "key", "value", "event_id", "confidence", "ts")
        .cast(ITEM_COLUMNS)
    )

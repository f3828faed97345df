"""The per-day transition row: what the Markov rewrite miner reads (table `markov_transitions`).

A *reformulation chain* is a run of user turns in one session in which each turn after the first
rephrases the one before (the user said A, it failed, a few seconds later said B, ...). A turn that
is nobody's rephrase and has none is a chain of length one. Every user turn contributes exactly one
count: to the next turn of its chain, or, for the chain's last turn, to the chain's outcome.

One row per (day, src, dst, rewritten, rewrite_id, rewrite_layer):

| column        | type      | meaning                                                                   |
|---------------|-----------|---------------------------------------------------------------------------|
| day           | DATE      | UTC day of the src turn                                                   |
| src           | VARCHAR   | the turn's text, `normalize_utterance`d (what the user said, also when    |
|               |           | the runtime rewrote it)                                                   |
| dst           | VARCHAR   | the next turn's normalised text, or `__SUCCESS__` / `__FAILURE__` when    |
|               |           | the chain ended after src (well / badly, by the defect signals)           |
| rewritten     | BOOLEAN   | the src turn was rewritten by the runtime (`rewrite_applied` set)         |
| rewrite_id    | VARCHAR   | that rewrite's id; NULL when not rewritten. Optional column: without it,  |
|               |           | deployed rewrites are matched on src alone                                |
| rewrite_layer | VARCHAR   | the runtime layer that chose it: table, global or personal (optional; the |
|               |           | online layers' rewrites are judged by `online.self_aware`)                |
| n_transitions | BIGINT    | how many times this transition happened that day (>= 1)                   |
| n_sessions    | BIGINT    | distinct sessions in which it happened that day (<= n_transitions)        |
| users         | VARCHAR[] | the distinct pseudonymised user ids that made it that day (non-empty, no  |
|               |           | duplicates; any hashable element type works, e.g. UBIGINT hashes)         |

A window (default 14 days) is the rows of its days; sums over days give window counts and the
union of `users` lists gives exact window distinct-user counts. The absorbing markers cannot clash
with an utterance: normalisation turns "__SUCCESS__" into "success".

Rows with rewritten = true describe traffic whose outcome the rewrite, not the user's words, caused.
The chain is built from the other (organic) rows only; the rewritten ones feed the self-aware
keep/drop rule (`self_aware.py`).
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

DAY = "day"
SRC = "src"
DST = "dst"
REWRITTEN = "rewritten"
REWRITE_ID = "rewrite_id"
N_TRANSITIONS = "n_transitions"
N_SESSIONS = "n_sessions"
USERS = "users"

SUCCESS = "__SUCCESS__"
FAILURE = "__FAILURE__"

REQUIRED_COLUMNS = (DAY, SRC, DST, REWRITTEN, N_TRANSITIONS, N_SESSIONS, USERS)


def window_frame(rows: pl.DataFrame | pl.LazyFrame | pa.Table) -> pl.LazyFrame:
    """The window's rows, lazily, with the contract's columns and types.

    Accepts polars (eager or lazy: a `pl.scan_parquet` keeps the rows out of memory) or pyarrow;
    adds a null `rewrite_id` when the column is absent; null `rewritten` counts as false. Raises
    ValueError naming any missing required column.
    """
    if isinstance(rows, pa.Table):
        rows = pl.from_arrow(rows)
    rows = rows.lazy()
    schema = rows.collect_schema()
    missing = [c for c in REQUIRED_COLUMNS if c not in schema]
    if missing:
        raise ValueError(f"markov_transitions rows lack column(s) {missing}; have {schema.names()}")
    if not isinstance(schema[USERS], pl.List):
        raise ValueError(f"markov_transitions.{USERS} must be a list of user ids, got {schema[USERS]}")
    if REWRITE_ID not in schema:
        rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(REWRITE_ID))
    return rows.select(
        pl.col(DAY),
        pl.col(SRC).cast(pl.String),
        pl.col(DST).cast(pl.String),
        pl.col(REWRITTEN).cast(pl.Boolean).fill_null(False),
        pl.col(REWRITE_ID).cast(pl.String),
        pl.col(N_TRANSITIONS).cast(pl.Int64),
        pl.col(N_SESSIONS).cast(pl.Int64),
        pl.col(USERS),
    )

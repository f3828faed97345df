"""Per-day transition counts of the reformulation Markov chain (Ponnusamy et al. 2020), the solver's input."""

from __future__ import annotations

from datetime import date

import duckdb

from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.signals.params import SignalParams
from selflearn_assets.lib.signals.store import ensure_signals_schema, publish_day
from selflearn_assets.lib.sql import query, query_pl

SUCCESS = "__SUCCESS__"
FAILURE = "__FAILURE__"
SQL = "signals/markov_transitions.sql"


def markov_transitions(con, day: date, params: SignalParams | None = None, lake: Lake | None = None) -> dict:
    """Publish `signals.markov_transitions` for `day` from its defect_signals and rephrase_candidates as the
    day's partition of `lake` (default: the warehouse's, `store.lake_of`).

    Chains link each turn to its best later rephrase with score >= rephrase_threshold; a chain's last turn,
    and every turn in no chain, goes to __FAILURE__ when defect_prob >= failure_threshold, else __SUCCESS__
    (integer counts). A window of days is the sum of the per-day rows."""
    lake = ensure_signals_schema(con, lake)
    publish_day(con, lake, "signals.markov_transitions", day, SQL, _sql_params(day, params))
    row = query_pl(con, "signals/markov_summary.sql", {"day": day}).row(0, named=True)
    return {"day": day, **{k: int(v) for k, v in row.items()}}


def transitions_rows(con, day: date, params: SignalParams | None = None) -> duckdb.DuckDBPyRelation:
    """`day`'s transitions counted from the turns, rephrase candidates and defect signals the warehouse reads
    now (not written anywhere: `selflearn forget-user` recounts days with it)."""
    return query(con, SQL, _sql_params(day, params))


def _sql_params(day: date, params: SignalParams | None) -> dict:
    params = params or SignalParams()
    return {"day": day, "threshold": params.rephrase_threshold, "failure_threshold": params.failure_threshold}

"""Per-day transition counts of the reformulation Markov chain (Ponnusamy et al. 2020), the solver's input."""

from __future__ import annotations

from datetime import date

from selflearn_assets.lib.signals.params import SignalParams
from selflearn_assets.lib.signals.store import delete_day, ensure_signals_schema, transaction
from selflearn_assets.lib.sql import query_pl, run_sql

SUCCESS = "__SUCCESS__"
FAILURE = "__FAILURE__"


def markov_transitions(con, day: date, params: SignalParams | None = None) -> dict:
    """Write `signals.markov_transitions` for `day` from its defect_signals and rephrase_candidates.

    Chains link each turn to its best later rephrase with score >= rephrase_threshold; a chain's last turn,
    and every turn in no chain, goes to __FAILURE__ when defect_prob >= failure_threshold, else __SUCCESS__
    (integer counts). A window of days is the sum of the per-day rows."""
    ensure_signals_schema(con)
    with transaction(con):
        replace_transitions_day(con, day, params)
    row = query_pl(con, "signals/markov_summary.sql", {"day": day}).row(0, named=True)
    return {"day": day, **{k: int(v) for k, v in row.items()}}


def replace_transitions_day(con, day: date, params: SignalParams | None = None) -> None:
    """Count `day`'s transitions again from the turns, rephrase candidates and defect signals the warehouse
    holds now, replacing its rows (call inside a transaction; `selflearn forget-user` recounts days with
    it)."""
    params = params or SignalParams()
    delete_day(con, "signals.markov_transitions", day)
    run_sql(
        con,
        "signals/markov_transitions.sql",
        {"day": day, "threshold": params.rephrase_threshold, "failure_threshold": params.failure_threshold},
    )

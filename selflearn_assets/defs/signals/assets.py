"""Signals: per-turn defect signals, rephrase candidates and the day's Markov transition counts. Each is
computed by the stage's SQL on the warehouse and published as the day's Parquet partition of the lake; the
warehouse's tables of the same names are views over it (`lib/signals/store.py`)."""

import json
from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import day_metadata, markdown_table, pct, rounded, stage, table_definition
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.models.encoder import EncoderNotFound
from selflearn_assets.lib.models.rephrase_training import champion_scorer
from selflearn_assets.lib.signals import defect_signals as build_defect_signals
from selflearn_assets.lib.signals import markov_transitions as build_markov_transitions
from selflearn_assets.lib.signals import rephrase_candidates as build_rephrase_candidates

COMMON = {
    "partitions_def": daily_partitions,
    **stage("signals"),
    "kinds": {"duckdb", "parquet"},
    "pool": "duckdb",
}


def _json(value) -> dg.MetadataValue:
    return dg.MetadataValue.json(rounded(json.loads(json.dumps(value, default=str))))


@dg.asset(
    deps=["clean_turns", "annotations"],
    metadata=table_definition("signals.defect_signals", "signals.defect_model"),
    **COMMON,
)
def defect_signals(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """One row per turn of the day with every implicit and explicit defect signal (barge-in, error /
    unsupported / clarify responses, explicit feedback, abandonment, a similar request within seconds, low
    confidences) and the combined `defect_prob`, calibrated on gold annotations where they exist."""
    day = date.fromisoformat(context.partition_key)
    with readable_day(duckdb, day) as con:
        report = build_defect_signals(con, day)
    calibration = report["calibration"] or {}
    rates = sorted(report["signal_rates"].items())
    metadata = {
        **day_metadata(
            duckdb,
            "signals.defect_signals",
            context.partition_key,
            [
                ("norm_text", "text"),
                ("response_status", "response"),
                ("barge_in", "barge-in"),
                ("defect_prob", "defect prob"),
            ],
        ),
        "mean_defect_prob": rounded(float(report["mean_defect_prob"] or 0.0)),
        "defect_rate_at_0.5": rounded(float(report["defect_rate_at_half"] or 0.0)),
        # which combination and why: "fitted (Brier a < prior b)", "default_prior (fitted Brier a >= prior b)"
        "combination": f"{report['model']['source']} ({report['model']['why']})",
        "signal_rates": dg.MetadataValue.md(
            markdown_table(["signal", "share of turns"], [(k, pct(v)) for k, v in rates])
        ),
        "calibration": _json(calibration),
    }
    if calibration.get("fitted"):
        for when in ("before", "after", "prior"):
            metadata[f"brier_{when}"] = rounded(float(calibration[when]["brier"]), 4)
    return dg.MaterializeResult(metadata=metadata)


class RephraseCandidatesConfig(dg.Config):
    use_model: bool = True  # score the pairs with the rephrase_model champion when one exists


@dg.asset(
    deps=["defect_signals", "rephrase_model"],
    metadata=table_definition("signals.rephrase_candidates"),
    **COMMON,
)
def rephrase_candidates(
    context: dg.AssetExecutionContext,
    config: RephraseCandidatesConfig,
    duckdb: DuckDBResource,
    selflearn: SelflearnConfig,
) -> dg.MaterializeResult:
    """Pairs (turn, later turn) of the same session within the time gap and turn distance, with lexical,
    phonetic and interpretation features, the defect of the first and success of the second, the documented
    heuristic score, the learned rephrase detector's probability (`model_score`, when a `rephrase_model`
    champion exists in the MLflow store of SELFLEARN_HOME) and the `score` the Markov chains use (the model's
    where it scored the pair, else the heuristic's; see `lib/signals/params.py`)."""
    day = date.fromisoformat(context.partition_key)
    with readable_day(duckdb, day) as con:
        try:
            scorer, champion = (
                champion_scorer(selflearn.home, con, store_root=selflearn.embeddings_root)
                if config.use_model
                else (None, None)
            )
        except (EncoderNotFound, ValueError) as err:
            raise dg.Failure(
                description=f"the rephrase_model champion cannot score: {err}; run rephrase_candidates with "
                "config use_model: false to score with the heuristic alone"
            ) from err
        if champion:
            context.log.info(f"scoring pairs with rephrase detector version {champion['version']}")
        report = build_rephrase_candidates(con, day, model_scorer=scorer)
    metadata = {
        **day_metadata(
            duckdb,
            "signals.rephrase_candidates",
            context.partition_key,
            [("first_text", "first"), ("second_text", "second"), ("time_gap_s", "gap (s)"), "score"],
        ),
        "rephrases_above_threshold": report["rephrases"],
        "threshold": rounded(report["threshold"]),
        "scored_by": "model" if report["model_scored"] else "heuristic",
    }
    if champion:
        metadata["rephrase_model_version"] = champion["version"]
        metadata["rephrase_model_run_id"] = champion["run_id"]
    gold = report.get("gold") or {}
    for column in ("score", "heuristic_score", "model_score"):
        values = gold.get(column) or {}
        prefix = "gold_" if column == "score" else f"gold_{column.removesuffix('_score')}_"
        metadata.update(
            {f"{prefix}{k}": rounded(float(v)) for k, v in values.items() if isinstance(v, int | float)}
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(deps=["rephrase_candidates"], metadata=table_definition("signals.markov_transitions"), **COMMON)
def markov_transitions(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The day's counts of transitions between normalised utterances along reformulation chains and into
    the absorbing __SUCCESS__ / __FAILURE__ states, with distinct users and sessions; a window sums days."""
    day = date.fromisoformat(context.partition_key)
    with readable_day(duckdb, day) as con:
        report = build_markov_transitions(con, day)
    return dg.MaterializeResult(
        metadata={
            **day_metadata(
                duckdb,
                "signals.markov_transitions",
                context.partition_key,
                [
                    ("src", "from"),
                    ("dst", "to"),
                    ("n_transitions", "transitions"),
                    ("n_sessions", "sessions"),
                ],
            ),
            **{k: v for k, v in report.items() if isinstance(v, int)},
        }
    )

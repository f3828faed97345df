"""Teachable AI: where teaching would help, what customers taught, and what each customer taught as of each day
(`lib/teaching/`); the runtime uses the taught items at once (`Rewriter.teach`), these assets keep the record."""

from datetime import date, datetime, timedelta

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import mlflow_run_tags, rounded, stage, table_definition
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day
from selflearn_assets.defs.resources import MLflowResource, SelflearnConfig
from selflearn_assets.lib.ingest.gates import readable_among
from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.online.preferences import PreferenceStore, preferences_log
from selflearn_assets.lib.teaching import moments, store
from selflearn_assets.lib.teaching.learn import detect_day, extract_day, taught_use_outcomes
from selflearn_assets.lib.teaching.moments import REASONS
from selflearn_assets.lib.teaching.reconcile import mined_items, reconcile, runtime_items

EXPERIMENT = "selflearn-teaching-extraction"


class TeachingConfig(dg.Config):
    """The window whose gold trains the moment detector and the extractor, and whose logs are their evidence."""

    window_days: int = 7


def _judged_table(judged: dict) -> str:
    rows = ["| extractor | extracted | gold | right | precision | recall |", "|---|---|---|---|---|---|"]
    for method, r in judged.items():
        rows.append(f"| {method} | {r['extracted']} | {r['gold']} | {r['right']} | {rounded(r['precision'], 3)} | "
                    f"{rounded(r['recall'], 3)} |")  # fmt: skip
    return "\n".join(rows)


@dg.asset(
    deps=["defect_signals", "annotations"],
    partitions_def=daily_partitions,
    **stage("online"),
    kinds={"duckdb", "polars"},
    metadata=table_definition("teaching.moments"),
    pool="duckdb",
)
def teachable_moments(
    context: dg.AssetExecutionContext, config: TeachingConfig, duckdb: DuckDBResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    """Turns where teaching would have helped (unsupported, clarify, an unresolved name, the same words failing
    again, negative feedback) and the teaching exchanges that happened, with the name a request asked for. Two
    detectors judged on the day's audit gold (a turn that relied on something taught and failed): the rules,
    and a logistic regression trained on the window's earlier gold (MLflow `selflearn-teachable-moments`)."""
    day = date.fromisoformat(context.partition_key)
    with readable_day(duckdb, day) as con:
        days = sorted(readable_among(con, [day - timedelta(days=i) for i in range(config.window_days)]))
        turns = store.read_turns(con, days)
        gold = store.read_gold(con, days)
    found = moments.find(turns)
    today = found.filter(pl.col("day") == day)
    with duckdb.get_connection() as con:
        store.write_day(con, "moments", day, today.drop("day"))
    judged = detect_day(turns, found, gold, day)
    by_reason = today.explode("reasons").group_by("reasons").len()
    reasons = dict(by_reason.drop_nulls("reasons").iter_rows())
    mlflow.configure()
    metrics = {f"{m}_{k}": float(v) for m in ("rules", "model") if m in judged for k, v in judged[m].items()
               if v is not None}  # fmt: skip
    with tracking.start_run(
        "selflearn-teachable-moments", tags=mlflow_run_tags(context, days),
        params={"day": day, "window_days": config.window_days, "trained_on_moments": judged["trained_on"]},
        run_name=f"teachable-moments {day}",
    ) as run:  # fmt: skip
        import mlflow as mlflow_api

        mlflow_api.log_metrics(metrics)
    model = judged.get("model")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": today.height,
            "moments": today.filter(pl.col("kind") == "moment").height,
            "exchanges": today.filter(pl.col("kind") == "exchange").height,
            "asked_names": today.filter(pl.col("asked_name").is_not_null() & (pl.col("kind") == "moment")).height,
            **{f"reason_{r}": int(reasons.get(r, 0)) for r in REASONS},
            "gold_true_moments": judged["rules"]["true_moments"],
            "rule_detector_precision": rounded(judged["rules"]["precision"], 3),
            "rule_detector_recall": rounded(judged["rules"]["recall"], 3),
            "model_trained_on_moments": judged["trained_on"],
            "model_detector_precision": rounded(model["precision"], 3) if model else "not trained",
            "model_detector_recall": rounded(model["recall"], 3) if model else "not trained",
            "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run.info.experiment_id, run.info.run_id)),
        }
    )


@dg.asset(
    deps=["teachable_moments"],
    partitions_def=daily_partitions,
    **stage("online"),
    kinds={"duckdb", "polars", "mlflow"},
    metadata=table_definition("teaching.user_preferences", "teaching.extractions"),
    pool="duckdb",
)
def user_preferences(
    context: dg.AssetExecutionContext,
    config: TeachingConfig,
    duckdb: DuckDBResource,
    mlflow: MLflowResource,
    selflearn: SelflearnConfig,
) -> dg.MaterializeResult:
    """Per pseudonymised user, key -> value with provenance, confidence and history, as of the end of the day:
    the runtime's log of teachings (`$SELFLEARN_HOME/online/preferences.jsonl`) reconciled with what the day's
    teaching turns taught (the span extractor, trained on the window's earlier gold; the rule baseline while
    it has too little). The extractors' precision and recall on the day's audit gold go to the metadata and to
    MLflow (experiment `selflearn-teaching-extraction`)."""
    day = date.fromisoformat(context.partition_key)
    with readable_day(duckdb, day) as con:
        days = sorted(readable_among(con, [day - timedelta(days=i) for i in range(config.window_days)]))
        turns = store.read_turns(con, days)
        gold = store.read_gold(con, days)
        earlier = store.read_day(con, "user_preferences", day - timedelta(days=1))
    found = moments.find(turns)
    exchanges = found.filter(pl.col("kind") == "exchange").join(
        turns.select("event_id", "intent", "slots"), on="event_id", how="left"
    )
    extracted = extract_day(turns, exchanges, gold, day)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time())
    runtime = runtime_items(PreferenceStore.load(preferences_log(selflearn.home)).rows()).filter(pl.col("ts") < end)
    prefs = reconcile(earlier if earlier.height else None, runtime, mined_items(extracted.found, turns))
    with duckdb.get_connection() as con:
        store.write_day(con, "extractions", day, extracted.found.drop("day"))
        store.write_day(con, "user_preferences", day, prefs)
    mlflow.configure()
    metrics = {f"{m}_{k}": v for m, r in extracted.judged.items() for k, v in r.items() if v is not None}
    with tracking.start_run(
        EXPERIMENT, tags=mlflow_run_tags(context, days),
        params={"day": day, "window_days": config.window_days, "method": extracted.method,
                "trained_on_turns": extracted.trained_on},
        run_name=f"teaching-extraction {day}",
    ) as run:  # fmt: skip
        import mlflow as mlflow_api

        mlflow_api.log_metrics({k: float(v) for k, v in metrics.items()})
    uses = taught_use_outcomes(prefs, turns, gold)
    sources = dict(prefs.group_by("source").len().iter_rows())
    current = prefs.filter(pl.col("current"))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": prefs.height,
            "users": current["user_id"].n_unique(),
            "current_items": current.height,
            "replaced_items": prefs.height - current.height,
            **{f"source_{s}": int(sources.get(s, 0)) for s in ("runtime", "mined", "runtime+mined")},
            "runtime_and_mined_disagree": prefs.filter(pl.col("agrees") == False).height,  # noqa: E712
            "teaching_turns_today": exchanges.filter(pl.col("day") == day).height,
            "extractor": extracted.method,
            "extractor_trained_on_turns": extracted.trained_on,
            "extraction_on_gold": dg.MetadataValue.md(_judged_table(extracted.judged)),
            # audited turns relying on something taught, before / after its teaching (as this table dates it)
            **{f"taught_uses_{k}": rounded(v, 3) if isinstance(v, float) else v for k, v in uses.items()},
            "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run.info.experiment_id, run.info.run_id)),
        }
    )

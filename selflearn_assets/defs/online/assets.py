"""Online rewriting: the global and personal layers of each day, the ranker (a model), and the export the
runtime serves (`selflearn rewrite`, `selflearn serve`)."""

import tempfile
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import (
    fmt,
    home_relative,
    mlflow_run_metadata,
    mlflow_run_tags,
    rounded,
    stage,
    table_definition,
)
from selflearn_assets.defs.models.window import load_training_window
from selflearn_assets.defs.online.evaluation import arm_table
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource, SelflearnConfig
from selflearn_assets.lib.ingest.gates import readable_among
from selflearn_assets.lib.ingest.pseudonym_keys import key_fingerprint
from selflearn_assets.lib.markov.params import MarkovParams
from selflearn_assets.lib.online import store
from selflearn_assets.lib.online.build import NotEnoughData, OnlineConfig, index_recalls, layers_from_entries
from selflearn_assets.lib.online.bundle import write_bundle
from selflearn_assets.lib.online.entries import EntryParams, global_entries, personal_entries
from selflearn_assets.lib.online.ranker import RankerConfig
from selflearn_assets.lib.online.ranker_training import champion_artifacts, train_and_track
from selflearn_assets.lib.online.self_aware import blocked_pairs, judge_online, verdict_counts
from selflearn_assets.lib.online.training import ExampleParams
from selflearn_assets.lib.rewrites.store import rewrites_of_day
from selflearn_assets.lib.sql import query_pl

MIN_RECALL = 0.95
CHECKS = ("online_index_recall", "online_global_privacy", "online_bundle_size")
MAX_BUNDLE_BYTES = 8 * 2**30


class OnlineLayersConfig(dg.Config):
    """The window and privacy rule of the layers (see `selflearn_assets/lib/online/entries.py`), and the
    self-aware rule's evidence bar for the online rewrites applied in the window (`lib/online/self_aware.py`)."""

    window_days: int = 7
    min_users: int = EntryParams.min_users
    min_success: float = EntryParams.min_success
    max_per_user: int = EntryParams.max_per_user
    self_aware_min_trials: int = MarkovParams.min_trials
    self_aware_keep_threshold: float = MarkovParams.keep_threshold

    def params(self) -> EntryParams:
        return EntryParams(self.min_users, self.min_success, self.max_per_user)

    def self_aware(self) -> MarkovParams:
        return MarkovParams(min_trials=self.self_aware_min_trials, keep_threshold=self.self_aware_keep_threshold)


def _window_turns(duckdb: DuckDBResource, day: date, window_days: int, applied: dict | None = None):
    """The window's readable days, turns and the day's Markov table; with `applied` (a dict), also the online
    rewrites applied in the window, its transition rows and the previous day's verdicts (self-aware rule)."""
    with readable_day(duckdb, day) as con:
        days = sorted(readable_among(con, [day - timedelta(days=i) for i in range(window_days)]))
        turns = store.read_turns(con, days)
        markov = rewrites_of_day(con, day)
        if applied is not None:
            applied["applied"], applied["rows"] = store.read_applied(con, days)
            applied["earlier"] = store.read_verdicts(con, day - timedelta(days=1))
    return days, turns, markov


@dg.asset(
    deps=["defect_signals", "markov_rewrites"],
    partitions_def=daily_partitions,
    **stage("online"),
    kinds={"duckdb", "polars"},
    metadata=table_definition("online.global_entries"),
    pool="duckdb",
)
def online_index_global(
    context: dg.AssetExecutionContext, config: OnlineLayersConfig, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """What works for everyone: every text of the window said by >= min_users users, with its popularity,
    success rate (gold-free: 1 - the calibrated defect probability) and usual interpretation, and the Markov
    table's rewrite targets; `candidate` marks those offered as rewrites. Also the self-aware verdicts on the
    online rewrites the runtime applied in the window (`online.rewrite_verdicts`): dropped ones are blocked in
    the day's export."""
    day = date.fromisoformat(context.partition_key)
    applied = {}
    days, turns, markov = _window_turns(duckdb, day, config.window_days, applied)
    entries = global_entries(turns, markov, config.params())
    verdicts = judge_online(applied["rows"], applied["applied"], config.self_aware(), day, applied["earlier"])
    counts = verdict_counts(verdicts)
    with duckdb.get_connection() as con:
        store.write_global(con, day, entries)
        store.write_verdicts(con, day, verdicts)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": entries.height,
            "window": f"{min(days)}..{max(days)}" if days else "empty",
            "candidates": int(entries["candidate"].sum()),
            "from_markov": int(entries["from_markov"].sum()),
            "min_users": config.min_users,
            "texts_left_out_for_privacy": turns["norm_text"].n_unique()
            - entries.filter(~entries["from_markov"]).height,
            "online_rewrites_judged": counts["patterns"],
            "online_rewrites_dropped": counts["worse"] + counts["dropped_earlier"],
            "online_rewrites_kept_better": counts["better"],
            "online_rewrites_insufficient_evidence": counts["insufficient_evidence"],
        }
    )


@dg.asset(
    deps=["defect_signals"],
    partitions_def=daily_partitions,
    **stage("online"),
    kinds={"duckdb", "polars"},
    metadata=table_definition("online.personal_entries"),
    pool="duckdb",
)
def online_index_personal(
    context: dg.AssetExecutionContext, config: OnlineLayersConfig, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """What works, and fails, for each (pseudonymised) user: every text they said in the window, with their own
    uses, success rate and last day; served to that user only."""
    day = date.fromisoformat(context.partition_key)
    days, turns, _ = _window_turns(duckdb, day, config.window_days)
    entries = personal_entries(turns, config.params())
    with duckdb.get_connection() as con:
        store.write_personal(con, day, entries)
    per_user = entries.group_by("user_id").len()["len"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": entries.height,
            "window": f"{min(days)}..{max(days)}" if days else "empty",
            "users": per_user.len(),
            "median_entries_per_user": rounded(float(per_user.median() or 0), 1),
            "candidates": int(entries["candidate"].sum()),
        }
    )


class OnlineRankerTraining(dg.Config):
    """The ranker's window and training settings (see `lib/online/ranker.py`, `training.py`, `build.py`)."""

    window_days: int = 7
    min_users: int = EntryParams.min_users
    min_success: float = EntryParams.min_success
    max_iter: int = RankerConfig.max_iter
    learning_rate: float = RankerConfig.learning_rate
    max_depth: int = RankerConfig.max_depth
    min_samples_leaf: int = RankerConfig.min_samples_leaf
    target_win_loss: float = RankerConfig.target_win_loss
    threshold_confidence: float = RankerConfig.threshold_confidence
    working_per_rephrase: float = ExampleParams.working_per_rephrase
    seed: int = 0

    def params(self) -> OnlineConfig:
        return OnlineConfig(
            window_days=self.window_days,
            entries=EntryParams(self.min_users, self.min_success),
            examples=ExampleParams(working_per_rephrase=self.working_per_rephrase, seed=self.seed),
            ranker=RankerConfig(
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                max_depth=self.max_depth,
                min_samples_leaf=self.min_samples_leaf,
                target_win_loss=self.target_win_loss,
                threshold_confidence=self.threshold_confidence,
                seed=self.seed,
            ),
        )


@dg.asset(
    deps=["defect_signals", "rephrase_candidates", "annotations"],
    **stage("models"),
    kinds={"scikitlearn", "mlflow"},
    pool="duckdb",
)
def online_ranker(
    context: dg.AssetExecutionContext,
    config: OnlineRankerTraining,
    duckdb: DuckDBResource,
    mlflow: MLflowResource,
    encoder: EncoderConfig,
) -> dg.MaterializeResult:
    """The online rewriter's ranker and its static request encoder: trained on the window's weak labels (what
    users rephrased into after a defect), judged on the last day's audit gold per arm of layers, registered in
    MLflow as `selflearn-online-ranker`; `champion` moves when its net wins beat the champion's on that gold."""
    params = config.params()
    extra = {}

    def load(con, days):
        turns = store.read_turns(con, days)
        extra["pairs"] = store.read_pairs(con, days)
        last = max(days)
        extra["gold"] = store.read_gold_days(con, days)
        extra["interpretations"] = query_pl(
            con, "evaluation/text_interpretations.sql", {"window_start": min(days), "window_end": last}
        )
        return turns

    days, turns = load_training_window(context, duckdb, params.window_days, load)
    try:
        summary = train_and_track(
            turns, extra["pairs"], extra["gold"], extra["interpretations"], params, mlflow.home,
            mlflow_run_tags(context, days), encoder_path=encoder.path or None, log=context.log.info,
        )  # fmt: skip
    except NotEnoughData as err:
        # not a failure of the data: the runtime keeps the table (and any earlier champion); said in the UI
        context.log.warning(f"online ranker not trained: {err}")
        return dg.MaterializeResult(metadata={"trained": False, "reason": str(err), "days": len(days)})
    except ValueError as err:
        raise dg.Failure(description=str(err)) from err
    arms = summary["arms"]
    metrics = summary["metrics"]
    return dg.MaterializeResult(
        metadata={
            "trained": True,
            **mlflow_run_metadata(mlflow, summary, "gold_net_wins_per_1k"),
            "gold_net_wins_per_1k": rounded(metrics["gold_net_wins_per_1k"], 2),
            "gold_day": summary["report"]["gold_day"],
            "threshold": rounded(metrics["threshold"], 3),
            "threshold_source": summary["report"]["ranker"]["threshold_source"],
            "calibration_auc": rounded(metrics.get("calibration_auc"), 3),
            "training_requests": summary["report"]["requests"],
            "gold_by_arm": dg.MetadataValue.md(
                arm_table(
                    "layers",
                    (("table + global", arms["global"]), ("table + global + personal", arms["personal"])),
                    share=fmt,
                )
            ),
        }
    )


@dg.asset(
    deps=["online_index_global", "online_index_personal", "online_ranker"],
    partitions_def=daily_partitions,
    **stage("online"),
    kinds={"parquet", "usearch"},
    check_specs=[
        dg.AssetCheckSpec(
            "online_index_recall",
            asset="online_export",
            blocking=True,
            description=f"ANN recall@10 vs exact search on a sample >= {MIN_RECALL} (embedding and char indexes)",
        ),
        dg.AssetCheckSpec(
            "online_global_privacy",
            asset="online_export",
            blocking=True,
            description="every global entry said by >= min_users users (or a Markov target)",
        ),
        dg.AssetCheckSpec(
            "online_bundle_size",
            asset="online_export",
            blocking=True,
            description=f"the bundle fits in {MAX_BUNDLE_BYTES // 2**30} GiB",
        ),
    ],  # fmt: skip
)
def online_export(
    context: dg.AssetExecutionContext,
    config: OnlineLayersConfig,
    duckdb: DuckDBResource,
    mlflow: MLflowResource,
    selflearn: SelflearnConfig,
) -> dg.MaterializeResult:
    """`exports/online/date=D/`: the day's layers encoded with the champion ranker's encoder, the ANN index,
    the ranker, the rewrites the self-aware rule dropped (blocked) and a manifest with sha256s, written
    atomically after its gates pass (recall, privacy, size)."""
    day = date.fromisoformat(context.partition_key)
    with readable_day(duckdb, day) as con:
        g, p = store.read_entries(con, day)
        blocked = blocked_pairs(store.read_verdicts(con, day))
    if not g.height and not p.height:
        raise dg.Failure(
            description=f"no online entries for {day}; materialize online_index_global/personal first"
        )
    mlflow.configure()
    with tempfile.TemporaryDirectory() as tmp:
        found = champion_artifacts(Path(tmp))
        if found is None:
            # no ranker trained yet (a window of fewer than three days): nothing to serve beyond the table
            reason = (
                "no champion online ranker in MLflow yet (see online_ranker's metadata): no online export"
            )
            context.log.warning(reason)
            skipped = {"skipped": reason}
            return dg.MaterializeResult(
                metadata={"exported": False, "reason": reason},
                check_results=[
                    dg.AssetCheckResult(check_name=c, passed=True, metadata=skipped) for c in CHECKS
                ],
            )
        ranker, encoder, version = found
        layers = layers_from_entries(g, p, encoder, blocked)
        recalls = index_recalls(layers, 300, encoder)
        recall = min(recalls.values())
        privacy_bad = g.filter((g["users"] < config.min_users) & ~g["from_markov"]).height
        gates = {"online_index_recall": recall >= MIN_RECALL, "online_global_privacy": privacy_bad == 0}
        if not all(gates.values()):
            raise dg.Failure(
                description=f"online export of {day} not written: recall@10 embedding {recalls['embedding']:.3f}, char "
                f"{recalls['char']:.3f} (needs {MIN_RECALL}), "
                f"{privacy_bad} global entries said by fewer than {config.min_users} users"
            )
        folder = write_bundle(
            selflearn.exports_root, day, layers, encoder.folder, ranker,
            {"ranker_version": version, "recall_at_10": recall, "min_users": config.min_users,
             "pseudonym_key_fingerprint": key_fingerprint(selflearn.pseudonym_key),
             "dagster_run_id": context.run_id, "asset": "online_export"},
        )  # fmt: skip
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    checks = [
        dg.AssetCheckResult(check_name="online_index_recall", passed=True,
                            metadata={f"recall_at_10_{name}": rounded(r, 4) for name, r in recalls.items()}),
        dg.AssetCheckResult(check_name="online_global_privacy", passed=True, metadata={"min_users": config.min_users}),
        dg.AssetCheckResult(check_name="online_bundle_size", passed=size <= MAX_BUNDLE_BYTES,
                            metadata={"bytes": size}),
    ]  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "exported": True,
            "path": home_relative(folder, selflearn.home),
            "absolute_path": dg.MetadataValue.path(str(folder)),
            "global_entries": g.height,
            "personal_entries": p.height,
            "blocked_pairs": blocked.height,
            "ranker_version": version,
            "recall_at_10": rounded(recall, 4),
            "bundle_mb": rounded(size / 2**20, 1),
        },
        check_results=checks,
    )

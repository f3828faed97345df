"""Evaluation: how the rewrite table mined up to the day before does on this day, offline and in a
counterfactual A/B replay. The asset loads the table and the day's evidence, calls
`lib/evaluation/rewrite_evaluation.py`, writes beside the table and reports (`report.py`)."""

from datetime import date, timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.evaluation.report import evaluation_metadata, not_evaluated_metadata
from selflearn_assets.defs.metadata import stage
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day, require_readable
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.defs.run_config import config_class
from selflearn_assets.lib.evaluation.rewrite_evaluation import EvaluationParams, evaluate_rewrite_table
from selflearn_assets.lib.evaluation.rewrite_replay import load_simulator_config
from selflearn_assets.lib.evaluation.store import read_deployed_table, read_judged_day, write_evaluation


class RewriteEvaluationConfig(config_class(EvaluationParams)):
    """Whether to replay the day on the simulator (the fields of `EvaluationParams`,
    `selflearn_assets/lib/evaluation/rewrite_evaluation.py`)."""


@dg.asset(
    deps=["rewrite_export", "annotations", "clean_turns"],
    partitions_def=daily_partitions,
    **stage("evaluation"),
    kinds={"polars", "parquet"},
    pool="duckdb",
)
def rewrite_evaluation(
    context: dg.AssetExecutionContext,
    config: RewriteEvaluationConfig,
    duckdb: DuckDBResource,
    selflearn: SelflearnConfig,
) -> dg.MaterializeResult:
    """The rewrite table exported for the day before (window ending D-1) judged on day D: offline wins and
    losses against D's gold annotations, and a counterfactual A/B replay of D on the simulator: the same users
    live D once without the table (control) and once with it (treatment), compared with paired user-level
    bootstrap intervals (the reduction's 95% interval measures what the table did, not how users differ; the
    day is simulated twice). On a corpus world whose raw root has every turn's gold (`_gold/`), also the
    real-logs judge on all of D's turns (`world_*`: a rewrite's meaning is the corpus' recorded NLU
    interpretation of its text) and the oracle table's ceiling (`oracle_*`). Written to
    `exports/rewrites/date=D-1/evaluation.json`."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        require_readable(con, day)
    table_day = day - timedelta(days=1)
    deployed = read_deployed_table(selflearn.exports_root, table_day)
    if deployed is None:
        context.log.warning(f"no rewrite table exported for {table_day}: nothing to evaluate on {day}")
        return dg.MaterializeResult(metadata=not_evaluated_metadata(table_day))
    with readable_day(duckdb, day) as con:
        gold, meanings = read_judged_day(con, day, deployed.window_start, table_day)
    world = load_simulator_config(selflearn.raw_root)
    params = config.params()
    evaluation = evaluate_rewrite_table(deployed, day, gold, meanings, world, selflearn.raw_root, params)
    if evaluation.result["ab_replay"] == "done":
        context.log.info(
            f"counterfactual replay of {day} with and without {deployed.table.height} rewrites for "
            f"{evaluation.result['replay_users']} users"
        )
    write_evaluation(deployed.folder, evaluation.result, evaluation.chart)
    return dg.MaterializeResult(metadata=evaluation_metadata(evaluation, deployed.folder, selflearn.home))

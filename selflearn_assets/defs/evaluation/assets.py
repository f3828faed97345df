"""Evaluation: how the rewrite table mined up to the day before does on this day, offline and in an A/B
replay."""


import json
import os
from datetime import date, timedelta

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import home_relative, markdown_table, rounded, stage
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day, require_readable
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.evaluation.ab_stats import compare_arms
from selflearn_assets.lib.evaluation.plots import markdown_image, rewrite_evaluation_png
from selflearn_assets.lib.evaluation.rewrite_corpus import interpretations_of_corpus, judge_on_world
from selflearn_assets.lib.evaluation.rewrite_offline import judge_turns, offline_win_loss
from selflearn_assets.lib.evaluation.rewrite_replay import load_simulator_config, replay_day
from selflearn_assets.lib.evaluation.world_gold import has_world_gold
from selflearn_assets.lib.rewrites import export_folder, read_export
from selflearn_assets.lib.rewrites.export import EVALUATION, TABLE
from selflearn_assets.lib.simulator.corpus import CorpusSimConfig
from selflearn_assets.lib.sql import query_pl


class RewriteEvaluationConfig(dg.Config):
    ab_replay: bool = True  # replay the day on the simulator (only for simulated raw roots)
    treatment_fraction: float = 0.5


def _write_json_atomic(path, value: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str) + "\n")
    os.replace(tmp, path)


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
    losses against D's gold annotations, and an A/B replay of D on the simulator with the table for a
    treatment half of users. On a corpus world whose raw root has every turn's gold (`_gold/`), also the
    real-logs judge on all of D's turns (`world_*`: a rewrite's meaning is the corpus' recorded NLU
    interpretation of its text) and the oracle table's ceiling (`oracle_*`). Written to
    `exports/rewrites/date=D-1/evaluation.json`."""
    day = date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as con:
        require_readable(con, day)
    table_day = day - timedelta(days=1)
    folder = export_folder(selflearn.exports_root, table_day)
    if not (folder / TABLE).exists():
        context.log.warning(f"no rewrite table exported for {table_day}: nothing to evaluate on {day}")
        return dg.MaterializeResult(metadata={"evaluated": False, "reason": f"no rewrite export for {table_day}"})
    table, manifest = read_export(folder)

    window = {"window_start": date.fromisoformat(str(manifest["window_start"])), "window_end": table_day}
    with readable_day(duckdb, day) as con:
        gold = query_pl(con, "evaluation/gold_turns.sql", {"day": day})
        meanings = query_pl(con, "evaluation/text_interpretations.sql", window)
    judged = judge_turns(gold, table, meanings)
    offline = offline_win_loss(judged)
    by_type = (
        judged.filter(pl.col("outcome").is_not_null()).group_by("failure_point", "outcome").len().rows()
    )
    outcomes: dict[str, dict[str, int]] = {}
    for failure_point, outcome, n in by_type:
        outcomes.setdefault(failure_point, {})[outcome] = n

    result = {"table_date": table_day, "evaluated_on": day, "rewrites": table.height, **offline.as_dict()}
    world = load_simulator_config(selflearn.raw_root)
    if isinstance(world, CorpusSimConfig) and has_world_gold(selflearn.raw_root, day):
        # A corpus world: the real-logs judge on every turn of the day, and the oracle ceiling.
        judged_world = judge_on_world(
            selflearn.raw_root, table, day, window["window_start"], interpretations_of_corpus(str(world.corpus))
        )
        oracle = judged_world.pop("oracle")
        result.update({f"world_{k}": v for k, v in judged_world.items()})
        result.update({f"oracle_{k}": v for k, v in oracle.items()})
    arms: dict[str, tuple[float, float]] = {}
    base = world if config.ab_replay else None
    if base is None:
        result["ab_replay"] = "skipped: the raw root was not written by the simulator" if config.ab_replay else "off"
    elif table.height == 0:
        result["ab_replay"] = "skipped: empty rewrite table"
    else:
        context.log.info(f"A/B replay of {day} with {table.height} rewrites for {config.treatment_fraction:.0%} of users")
        turns = replay_day(base, day, folder / TABLE, config.treatment_fraction)
        overall = compare_arms(turns, seed=0)
        result.update(
            ab_replay="done",
            replay_turns=turns.height,
            replay_rewritten_turns=int(turns["rewritten"].sum()),
            defect_rate_control=overall.defect_rate_control,
            defect_rate_treatment=overall.defect_rate_treatment,
            relative_reduction=overall.relative_reduction,
            relative_reduction_ci=list(overall.interval),
        )
        arms = {"all traffic": (overall.defect_rate_control, overall.defect_rate_treatment)}
        covered_turns = turns.filter(pl.col("covered"))
        if set(covered_turns["arm"].unique()) >= {"control", "treatment"}:
            covered = compare_arms(covered_turns, seed=0)
            result.update(
                covered_turns_control=covered.turns_control,
                covered_turns_treatment=covered.turns_treatment,
                defect_rate_covered_control=covered.defect_rate_control,
                defect_rate_covered_treatment=covered.defect_rate_treatment,
                relative_reduction_covered=covered.relative_reduction,
                relative_reduction_covered_ci=list(covered.interval),
            )
            arms["covered"] = (covered.defect_rate_control, covered.defect_rate_treatment)
        else:  # a small table whose sources nobody of one arm said that day
            result["covered_replay"] = (
                f"skipped: covered turns only in arm(s) {sorted(covered_turns['arm'].unique())}"
            )
    _write_json_atomic(folder / EVALUATION, result)
    png = rewrite_evaluation_png(arms, outcomes)
    (folder / "evaluation.png").write_bytes(png)

    scalars = {k: v for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return dg.MaterializeResult(
        metadata={
            **{
                k: dg.MetadataValue.float(rounded(float(v))) if isinstance(v, float) else v
                for k, v in scalars.items()
            },
            "evaluated": True,
            "table": home_relative(folder, selflearn.home),
            "ab_replay": str(result["ab_replay"]),
            "chart": dg.MetadataValue.md(markdown_image(png, "rewrite evaluation")),
            "summary": dg.MetadataValue.md(
                markdown_table(["metric", "value"], [(k, v) for k, v in result.items()])
            ),
        }
    )

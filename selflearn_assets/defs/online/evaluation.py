"""Evaluation of the online rewriter: the export of the day before judged on this day's gold per arm of layers,
and on the simulated world a three-arm A/B replay of the day and a fourth arm without teaching (`lib/online/ab.py`)."""

import json
import os
from datetime import date, timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import fmt, home_relative, markdown_table, pct, rounded, stage
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.evaluation.rewrite_replay import load_simulator_config
from selflearn_assets.lib.online import store
from selflearn_assets.lib.online.ab import replay_online_day, three_arm_report
from selflearn_assets.lib.online.bundle import bundle_folder
from selflearn_assets.lib.online.evaluation import ARMS, judge_arms
from selflearn_assets.lib.online.runtime import Rewriter
from selflearn_assets.lib.rewrites.export import TABLE, export_folder
from selflearn_assets.lib.simulator import SimConfig
from selflearn_assets.lib.sql import query_pl

EVALUATION = "evaluation.json"


class OnlineEvaluationConfig(dg.Config):
    """Whether to replay the day on the simulator in three arms (control: table; global; personal) and a fourth
    (personal, with a runtime that keeps nothing users teach)."""

    ab_replay: bool = True
    window_days: int = 7


def _write_json_atomic(path, value: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str))
    os.replace(tmp, path)


def arm_table(first: str, arms, share=pct) -> str:
    """A markdown table of judged arms ((name, `judge_arm` result) pairs): fired, wins, losses, win/loss,
    win coverage and oracle ceiling, the shares written by `share`."""
    rows = [
        (name, r["fired"], r["wins"], r["losses"], fmt(r["win_loss"]), share(r["win_coverage"]), share(r["oracle_ceiling"]))
        for name, r in arms
    ]  # fmt: skip
    return markdown_table([first, "fired", "wins", "losses", "win/loss", "win coverage", "oracle"], rows)


@dg.asset(
    deps=["online_export", "rewrite_export", "annotations", "clean_turns"],
    partitions_def=daily_partitions,
    **stage("evaluation"),
    kinds={"polars"},
    pool="duckdb",
)
def online_evaluation(
    context: dg.AssetExecutionContext,
    config: OnlineEvaluationConfig,
    duckdb: DuckDBResource,
    selflearn: SelflearnConfig,
) -> dg.MaterializeResult:
    """The online export of D-1 judged on day D: per arm (table; table + global; table + global + personal)
    wins, losses, win/loss, coverage and the oracle ceiling on D's gold, and on the simulated world an A/B
    replay of D in three arms with each arm's defect rate and the two ratios (targets global <= 0.87 x
    control, personal <= 0.96 x global) with user-level 95% intervals, and a fourth arm, the personal one with
    teaching off: all traffic's ratio and how often the turns relying on something taught succeed. Written to
    `exports/online/date=D-1/evaluation.json`."""
    day = date.fromisoformat(context.partition_key)
    before = day - timedelta(days=1)
    online, table = (
        bundle_folder(selflearn.exports_root, before),
        export_folder(selflearn.exports_root, before),
    )
    if not (online / "manifest.json").is_file():
        context.log.warning(f"no online export for {before}: nothing to evaluate on {day}")
        return dg.MaterializeResult(metadata={"evaluated": False, "online_export_day": before.isoformat()})
    has_table = (table / "manifest.json").is_file()
    with readable_day(duckdb, day) as con:
        gold = store.read_gold(con, day)
        meanings = query_pl(
            con,
            "evaluation/text_interpretations.sql",
            {"window_start": before - timedelta(days=config.window_days - 1), "window_end": before},
        )
    key = selflearn.pseudonym_key

    # one load (and sha256 check) of the exports; each arm answers with its own layers. Not the runtime's log of
    # taught preferences: it holds teachings made after the judged day, which its turns could not have used
    served = Rewriter.load(
        selflearn.exports_root, key, online=online, table=table if has_table else None, preferences=None
    )

    # without a table export the arms are the online layers alone
    arm_layers = (
        ARMS
        if has_table
        else {a: tuple(x for x in v if x != "table") for a, v in ARMS.items() if a != "table"}
    )
    arms = judge_arms(served.restricted, gold, meanings, arm_layers) if gold.height else {}
    result = {"day": day.isoformat(), "online_export": before.isoformat(), "offline": arms}
    world = load_simulator_config(selflearn.raw_root)
    replay = None
    if config.ab_replay and isinstance(world, SimConfig) and has_table:
        context.log.info(f"A/B replay of {day} with the exports of {before} (three arms, and teaching off)")
        replay = three_arm_report(replay_online_day(world, day, table / TABLE, online, key))
    result["ab_replay"] = replay if replay is not None else "not run (no simulator world, or no table export)"
    _write_json_atomic(online / EVALUATION, result)

    metadata = {
        "evaluated": True,
        "online_export_day": before.isoformat(),
        "evaluation_json": home_relative(online / EVALUATION, selflearn.home),
        "gold_turns": gold.height,
        "offline_by_arm": dg.MetadataValue.md(
            arm_table("arm", arms.items()) if arms else "no gold on this day"
        ),
    }  # fmt: skip
    for arm, r in arms.items():
        metadata[f"{arm}_win_loss"] = rounded(r["win_loss"], 2) if r["win_loss"] is not None else "no losses"
    if replay is not None:
        ab_rows = [
            (a, v["users"], v["turns"], pct(v["defect_rate"]), v["rewritten"])
            for a, v in replay["arms"].items()
        ]
        for name in ("global_vs_control", "personal_vs_global"):
            r = replay[name]
            metadata[f"{name}_defect_ratio"] = rounded(r["defect_rate_ratio"], 3)
            metadata[f"{name}_ratio_95"] = f"{r['ratio_interval'][0]:.3f}..{r['ratio_interval'][1]:.3f}"
        metadata["ab_by_arm"] = dg.MetadataValue.md(
            markdown_table(["arm", "users", "turns", "defect rate", "rewritten"], ab_rows)
        )
        teaching = replay.get("teaching_vs_none")
        if teaching is not None:  # the fourth arm: the personal arm with a runtime that keeps nothing taught
            metadata["teaching_vs_none_defect_ratio"] = rounded(teaching["defect_rate_ratio"], 3)
            metadata["teaching_vs_none_ratio_95"] = (
                f"{teaching['ratio_interval'][0]:.3f}..{teaching['ratio_interval'][1]:.3f}"
            )
            for arm, r in teaching["taught_use_success"].items():
                metadata[f"taught_use_success_{arm}"] = f"{pct(r['success'])} of {r['turns']}"
    return dg.MaterializeResult(metadata=metadata)

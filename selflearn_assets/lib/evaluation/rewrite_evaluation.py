"""A deployed rewrite table judged on the day after its window: what `evaluation.json` and its chart hold.

The table mined on the window ending D-1 is judged on day D, each way where its evidence exists:

- **offline** (`rewrite_offline.py`): wins and losses against D's gold annotations, always;
- **on the world's gold** (`rewrite_corpus.py`): on a corpus world whose raw root has every turn's gold
  (`world_gold.py`), the real-logs judge on all of D's turns (`world_*`) and the ceiling of the window's oracle
  table (`oracle_*`);
- **A/B replay** (`rewrite_replay.py`, `ab_stats.py`): D simulated again on the world that wrote the raw root,
  as a counterfactual: the same users live D once without the table (control) and once with it for everyone
  (treatment), with the same seed. The defect rate by arm and the relative reduction with a **paired**
  user-level bootstrap interval (a draw weights a user alike in both arms, so it measures what the table did,
  not how users differ), on all traffic and on the turns the table covers (when both arms have some).
  `ab_replay` says `done`, `off`, or why it was skipped (real logs have no simulator to replay; an empty
  table leaves the arms identical).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from selflearn_assets.lib.evaluation.ab_stats import compare_arms
from selflearn_assets.lib.evaluation.plots import rewrite_evaluation_png
from selflearn_assets.lib.evaluation.rewrite_corpus import interpretations_of_corpus, judge_on_world
from selflearn_assets.lib.evaluation.rewrite_offline import judge_turns, offline_win_loss
from selflearn_assets.lib.evaluation.rewrite_replay import replay_counterfactual
from selflearn_assets.lib.evaluation.store import DeployedTable
from selflearn_assets.lib.evaluation.world_gold import has_world_gold
from selflearn_assets.lib.simulator import SimConfig
from selflearn_assets.lib.simulator.corpus import CorpusSimConfig

NOT_SIMULATED = "skipped: the raw root was not written by the simulator"
EMPTY_TABLE = "skipped: empty rewrite table"


@dataclass(frozen=True)
class EvaluationParams:
    # replay the day on the simulator, once without the table and once with it (only for simulated raw roots)
    ab_replay: bool = True


@dataclass(frozen=True)
class RewriteEvaluation:
    result: dict  # evaluation.json, in the order the metadata's summary lists it
    outcomes: dict[str, dict[str, int]]  # offline outcome counts by gold failure point (fired turns)
    arms: dict[str, tuple[float, float]]  # per traffic slice, the replay's (control, treatment) defect rates
    chart: bytes  # evaluation.png: `arms` left, `outcomes` right


def evaluate_rewrite_table(
    deployed: DeployedTable,
    day: date,
    gold: pl.DataFrame,
    meanings: pl.DataFrame,
    world: SimConfig | CorpusSimConfig | None,
    raw_root: str | Path,
    params: EvaluationParams,
) -> RewriteEvaluation:
    """`deployed` judged on `day`: offline against `gold` with the window's `meanings` (`store.read_judged_day`),
    on the world's gold where `raw_root` has it, and replayed on `world` (the simulator config that wrote
    `raw_root`; None for real logs)."""
    table = deployed.table
    judged = judge_turns(gold, table, meanings)
    result = {"table_date": deployed.day, "evaluated_on": day, "rewrites": table.height}
    result |= offline_win_loss(judged).as_dict()
    if isinstance(world, CorpusSimConfig) and has_world_gold(raw_root, day):
        judged_world = judge_on_world(
            raw_root, table, day, deployed.window_start, interpretations_of_corpus(str(world.corpus))
        )
        oracle = judged_world.pop("oracle")
        result |= {f"world_{k}": v for k, v in judged_world.items()}
        result |= {f"oracle_{k}": v for k, v in oracle.items()}
    arms: dict[str, tuple[float, float]] = {}
    if not params.ab_replay:
        result["ab_replay"] = "off"
    elif world is None:
        result["ab_replay"] = NOT_SIMULATED
    elif table.height == 0:
        result["ab_replay"] = EMPTY_TABLE
    else:
        replayed, arms = replay_summary(replay_counterfactual(world, day, deployed.path))
        result |= replayed
    outcomes = outcomes_by_failure_point(judged)
    return RewriteEvaluation(result, outcomes, arms, rewrite_evaluation_png(arms, outcomes))


def outcomes_by_failure_point(judged: pl.DataFrame) -> dict[str, dict[str, int]]:
    """{gold failure point: {outcome: turns}} over the turns of `judge_turns` where a rewrite fired."""
    counts = judged.filter(pl.col("outcome").is_not_null()).group_by("failure_point", "outcome").len()
    outcomes: dict[str, dict[str, int]] = {}
    for failure_point, outcome, n in counts.rows():
        outcomes.setdefault(failure_point, {})[outcome] = n
    return outcomes


def replay_summary(turns: pl.DataFrame) -> tuple[dict, dict[str, tuple[float, float]]]:
    """What the counterfactual replay (`rewrite_replay.replay_counterfactual`: user_id, arm, defective, covered,
    rewritten per turn, the same users in both arms) adds to the result, and the (control, treatment) defect
    rates per traffic slice for the chart. `replay_turns` counts both arms. All traffic is compared with paired
    draws (raises if the arms hold different users); the covered slice (turns whose text the table has) is paired
    where both arms have the same users with covered turns, and compared only when both arms have some."""
    overall = compare_arms(turns, seed=0, paired=True)
    summary: dict = {
        "ab_replay": "done",
        "replay_users": turns["user_id"].n_unique(),
        "replay_turns": turns.height,
        # the table's rewrites (the runtime also rewrites what users taught, in both arms alike)
        "replay_rewritten_turns": int(
            (turns["rewritten"] & (turns["layer"] == "table")).sum() if "layer" in turns.columns
            else turns["rewritten"].sum()
        ),
        "defect_rate_control": overall.defect_rate_control,
        "defect_rate_treatment": overall.defect_rate_treatment,
        "relative_reduction": overall.relative_reduction,
        "relative_reduction_ci": list(overall.interval),
    }
    arms = {"all traffic": (overall.defect_rate_control, overall.defect_rate_treatment)}
    covered_turns = turns.filter(pl.col("covered"))
    if set(covered_turns["arm"].unique()) >= {"control", "treatment"}:
        covered = compare_arms(covered_turns, seed=0)
        summary |= {
            "covered_turns_control": covered.turns_control,
            "covered_turns_treatment": covered.turns_treatment,
            "defect_rate_covered_control": covered.defect_rate_control,
            "defect_rate_covered_treatment": covered.defect_rate_treatment,
            "relative_reduction_covered": covered.relative_reduction,
            "relative_reduction_covered_ci": list(covered.interval),
        }
        arms["covered"] = (covered.defect_rate_control, covered.defect_rate_treatment)
    else:
        summary["covered_replay"] = (
            f"skipped: covered turns only in arm(s) {sorted(covered_turns['arm'].unique())}"
        )
    return summary, arms

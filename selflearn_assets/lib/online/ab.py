"""The online rewriter's A/B replay: one day of the simulated world again, once per arm, for the same users.

`replay_online_day` re-simulates a day of the world that wrote the raw root (`evaluation.rewrite_replay`) with
every session annotated, three times, every user in one arm each time: **control** gets the exported Markov
table only (today's runtime), **global** the table and the global layer, **personal** the table and both
layers, each served by the runtime exactly as `selflearn serve` would (the simulator calls `Rewriter.rewrite`
with the raw user id). The same users living the same day is a counterfactual a real A/B cannot have: the
arms differ only by what the rewriter did. (Users split in thirds, the first design, compared different
users: on the demo's world the personal third's defect rate was 0.81x the global third's with no online
rewrite at all.) `three_arm_report` gives the defect rate per arm and the two comparisons the issue sets
targets for, global vs control (<= 0.87x) and personal vs global (<= 0.96x), each with a user-level bootstrap
interval (`evaluation.ab_stats`, paired: one draw reweights a user in both arms), and how often each layer
fired. A fourth arm, `no_teaching` (the personal arm with a runtime that keeps nothing users teach), gives
`teaching_vs_none`: the defect ratio of all traffic and of the turns that rely on something taught, and how
often those succeed in each arm. The replayed day is the world's first (nothing taught before it but the
users' pre-taught teams), so it measures teaching within the day.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from selflearn_assets.lib.evaluation.ab_stats import compare_arms
from selflearn_assets.lib.evaluation.rewrite_replay import replay_day
from selflearn_assets.lib.simulator.rewrites import ONLINE_ARMS

TARGETS = {"global_vs_control": 0.87, "personal_vs_global": 0.96}
NO_TEACHING = "no_teaching"


def replay_online_day(
    base, day: date, rewrite_table: Path, bundle: Path, pseudonym_key: str, teaching_arm: bool = True
) -> pl.DataFrame:
    """One row per gold turn of the replayed day and arm: user_id, arm, rewritten, layer, defective, covered,
    uses_taught, taught_rewrite. With `teaching_arm`, a fourth arm `no_teaching`: the personal arm with a runtime that keeps
    nothing users teach (`SimConfig.teaching` off), against which `personal` measures teaching."""
    online = {"online_bundle": Path(bundle), "online_key": pseudonym_key}
    arms = [replay_day(base, day, rewrite_table, overrides={**online, "online_arm": arm}) for arm in ONLINE_ARMS]
    if teaching_arm:
        off = replay_day(base, day, rewrite_table, overrides={**online, "online_arm": "personal", "teaching": False})
        arms.append(off.with_columns(arm=pl.lit(NO_TEACHING)))
    return pl.concat(arms)


def _pair(turns: pl.DataFrame, control: str, treatment: str, seed: int) -> dict:
    part = turns.filter(pl.col("arm").is_in([control, treatment])).with_columns(
        arm=pl.when(pl.col("arm") == treatment).then(pl.lit("treatment")).otherwise(pl.lit("control"))
    )
    c = compare_arms(part, seed=seed)
    return {
        "defect_rate_ratio": 1.0 - c.relative_reduction,
        "ratio_interval": (1.0 - c.interval[1], 1.0 - c.interval[0]),
        "relative_reduction": c.relative_reduction,
        "reduction_interval": c.interval,
    }


def three_arm_report(turns: pl.DataFrame, seed: int = 0) -> dict:
    arms = (
        turns.group_by("arm")
        .agg(
            users=pl.col("user_id").n_unique(),
            turns=pl.len(),
            defect_rate=pl.col("defective").mean(),
            rewritten=pl.col("rewritten").sum(),
        )
        .sort("arm")
    )
    layers = turns.filter(pl.col("rewritten")).group_by("arm", "layer").len().sort("arm", "layer")
    report = {
        "arms": {
            row["arm"]: {k: v for k, v in row.items() if k != "arm"} for row in arms.iter_rows(named=True)
        },
        "rewrites_by_layer": {f"{a}/{lay}": n for a, lay, n in layers.iter_rows()},
        "targets": TARGETS,
    }
    for name, (control, treatment) in {"global_vs_control": ("control", "global"),
                                        "personal_vs_global": ("global", "personal")}.items():  # fmt: skip
        report[name] = _pair(turns, control, treatment, seed)
        report[name]["meets_target"] = report[name]["defect_rate_ratio"] <= TARGETS[name]
    if NO_TEACHING in set(turns["arm"]):
        uses = turns.filter(pl.col("uses_taught"))
        report["teaching_vs_none"] = {
            **_pair(turns, NO_TEACHING, "personal", seed),
            "taught_use_success": {
                arm: {"turns": n, "success": round(1.0 - rate, 4)}
                for arm, n, rate in uses.group_by("arm").agg(pl.len(), pl.col("defective").mean()).sort("arm").iter_rows()
            },
            "taught_uses": _pair(uses, NO_TEACHING, "personal", seed) if uses.height else None,
        }
    return report

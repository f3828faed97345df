"""Defect rates of an A/B replay by arm, and the relative reduction with a user-level bootstrap interval.

Turns of one user are correlated (a failure is followed by rephrases), so the interval resamples users,
not turns: each bootstrap draw reweights users with Poisson(1) weights (a fixed seed makes it repeatable)
and recomputes  reduction = 1 - rate_treatment / rate_control. When both arms hold the same users (a
counterfactual replay: the same day lived once per arm), the draw is **paired**: a user gets the same weight
in both arms, so the interval measures the treatment's effect, not the difference between users (unpaired
draws of the same turns would add the users' differences to it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

BOOTSTRAP_DRAWS = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class ArmComparison:
    turns_control: int
    turns_treatment: int
    defect_rate_control: float
    defect_rate_treatment: float
    relative_reduction: float
    interval: tuple[float, float]


def compare_arms(
    turns: pl.DataFrame, seed: int = 0, draws: int = BOOTSTRAP_DRAWS, paired: bool | None = None
) -> ArmComparison:
    """`turns`: user_id, arm ('control' / 'treatment'), defective (bool). Raises on an empty arm. `paired`: None
    pairs the draws when both arms hold the same users, True requires that (raises otherwise), False draws the
    arms independently."""
    per_user = (
        turns.group_by("user_id", "arm")
        .agg(n=pl.len(), d=pl.col("defective").cast(pl.Int64).sum())
        .sort("user_id", "arm")  # group_by's order is arbitrary: sorted, the draws are repeatable for a seed
    )
    arms = {}
    for arm in ("control", "treatment"):
        part = per_user.filter(pl.col("arm") == arm)
        if part.is_empty() or part["n"].sum() == 0:
            raise ValueError(f"the A/B replay has no {arm} turns to compare")
        arms[arm] = (part["n"].to_numpy().astype(float), part["d"].to_numpy().astype(float))
    rng = np.random.default_rng(seed)

    def rates(weights_c, weights_t):
        (nc, dc), (nt, dt) = arms["control"], arms["treatment"]
        rc = (weights_c @ dc) / np.maximum(weights_c @ nc, 1e-12)
        rt = (weights_t @ dt) / np.maximum(weights_t @ nt, 1e-12)
        return rc, rt

    rc, rt = rates(np.ones(len(arms["control"][0])), np.ones(len(arms["treatment"][0])))
    users = {a: per_user.filter(pl.col("arm") == a)["user_id"].to_list() for a in arms}
    wc = rng.poisson(1.0, size=(draws, len(arms["control"][0]))).astype(float)
    same_users = users["control"] == users["treatment"]
    if paired is None:
        paired = same_users
    elif paired and not same_users:
        raise ValueError("a paired comparison needs the same users in both arms")
    wt = wc if paired else rng.poisson(1.0, size=(draws, len(arms["treatment"][0]))).astype(float)
    brc, brt = rates(wc, wt)
    with np.errstate(divide="ignore", invalid="ignore"):
        reductions = np.where(brc > 0, 1.0 - brt / brc, np.nan)
    reductions = reductions[np.isfinite(reductions)]
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(reductions, [alpha, 1 - alpha]) if len(reductions) else (np.nan, np.nan)
    return ArmComparison(
        turns_control=int(arms["control"][0].sum()),
        turns_treatment=int(arms["treatment"][0].sum()),
        defect_rate_control=float(rc),
        defect_rate_treatment=float(rt),
        relative_reduction=float(1.0 - rt / rc) if rc > 0 else float("nan"),
        interval=(float(low), float(high)),
    )

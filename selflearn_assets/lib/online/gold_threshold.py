"""The ranker's threshold, chosen on the audit gold of its training days: the lowest calibrated P at which
its rewrites win at least `W` times per loss.

The weak labels say which candidate a user rephrased into; they cannot say how often rewriting to the best
candidate is *right* (a different wording of the same request is right too, and a turn that looked like a
defect may have been fine). The gold turns of the training days can: each is sent through the layers of
the days before it, as the runtime would, and its best candidate is judged as the evaluation judges
(`evaluation.rewrite_offline.judge_rewritten`: win, loss, neutral).

The scores come from the served ranker itself on a day it never saw (`fit_and_choose`): it is fitted on the
training days but the last, and the last one's gold chooses its threshold, as the served ranker meets the
day after its window. (Two alternatives measured worse: scoring a day's gold with a ranker trained on the
same day's other users was optimistic, since users of one day say the same misheard texts — a threshold
chosen at 17 wins per loss that way met 0.4 the next day on the real-speech world; choosing on gold scored
by rankers of fewer days and serving one refitted on all days did not transfer, their P being on another
scale.) A window with a single training day has no day to spare: its gold is scored **out of fold** by
user (users split in two by their pseudonym, each half scored by a ranker trained on the other's weak
examples), and the report says so. Walking the turns from the highest P down, wins and losses accumulate; the
threshold is the lowest P (a turn's own) at which the win share's lower confidence bound reaches W / (1 + W)
(wins >= W x losses at confidence 0) with at least `min_wins` wins. None reaching it: the ranker abstains on every request (`NEVER`), which the report says. The last day's gold,
the evaluation's, is never used here.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import polars as pl

from selflearn_assets.lib.evaluation.rewrite_offline import judge_rewritten
from selflearn_assets.lib.online.ranker import Ranker, RankerConfig, train_ranker
from selflearn_assets.lib.online.training import Examples

NEVER = 1.5  # a threshold above any probability: the ranker abstains on every request
MIN_WINS = 5


def user_fold(users: np.ndarray, folds: int = 2) -> np.ndarray:
    """Each pseudonymised user's fold, stable across processes (CRC-32 of the id)."""
    return np.fromiter((zlib.crc32(str(u).encode()) % folds for u in users), dtype=np.int64, count=len(users))


def out_of_fold_p(weak: Examples, gold: Examples, ranker: Ranker, config: RankerConfig) -> np.ndarray:
    """Calibrated P of every gold candidate from a ranker trained (and calibrated, `train_ranker`) on the
    other fold's users' weak examples, so that its P means what the full ranker's does. A fold whose other
    side lacks positives or negatives gets the full ranker's P."""
    p = ranker.probabilities(gold.x) if len(gold.y) else np.zeros(0)
    weak_fold, gold_fold = user_fold(weak.users), user_fold(gold.users)
    for fold in (0, 1):
        fit, rows = weak_fold != fold, gold_fold == fold
        if not rows.any() or len(np.unique(weak.y[fit])) < 2:
            continue
        fold_ranker, _ = train_ranker(weak.x[fit], weak.y[fit], weak.groups[fit], config)
        p[rows] = fold_ranker.probabilities(gold.x[rows])
    return p


def fit_and_choose(
    weak: dict,
    gold_found: dict,
    gold: pl.DataFrame | None,
    interpretations: pl.DataFrame | None,
    config: RankerConfig,
) -> tuple[Ranker, dict]:
    """The served ranker and its threshold: `weak` maps each training day to its weak `Examples`,
    `gold_found` each training day with gold to (its gold `Examples`, event ids), `gold` the gold turns (with
    `day`). With two training days or more, the ranker is fitted on all but the last, whose gold (a day it
    never saw, as the next day will be) chooses its threshold; with one, on it, the threshold from its gold
    out of fold by user (optimistic, and said). Without gold: W / (1 + W) on the weak P."""
    days = sorted(weak)
    held = days[-1] if len(days) > 1 and days[-1] in gold_found else None
    fit_days = [d for d in days if d != held]
    examples = Examples.concat([weak[d] for d in fit_days])
    if held is not None and len(np.unique(examples.y)) < 2:  # the held day's labels are needed to fit at all
        held, fit_days = None, days
        examples = Examples.concat([weak[d] for d in days])
    ranker, report = train_ranker(examples.x, examples.y, examples.groups, config)
    report["fit_days"] = [str(d) for d in fit_days]
    choice, how = None, ""
    if gold_found and gold is not None and gold.height and interpretations is not None:
        if held is not None:
            found, events = gold_found[held]
            best, scored = best_per_event(events, found.texts, ranker.probabilities(found.x)), [held]
            how = f"{held}, a day the ranker did not train on"
        else:
            scored = sorted(gold_found)
            found = Examples.concat([gold_found[d][0] for d in scored])
            events = [e for d in scored for e in gold_found[d][1]]
            best = best_per_event(events, found.texts, out_of_fold_p(examples, found, ranker, config))
            how = "the training day itself, out of fold by user: optimistic, a longer window chooses on a later day"
        choice = choose_threshold(
            best, gold.filter(pl.col("day").is_in(scored)), interpretations, config.target_win_loss,
            config.threshold_confidence,
        )  # fmt: skip
        ranker.threshold = choice.threshold
    report["threshold"] = ranker.threshold
    report["threshold_source"] = (
        "weak labels: W / (1 + W)" if choice is None
        else f"gold of {how}: no threshold reaches the target" if choice.threshold == NEVER
        else f"gold of {how}"
    )  # fmt: skip
    if choice is not None:
        report["threshold_gold"] = {
            "gold_turns": choice.gold_turns, "wins": choice.wins, "losses": choice.losses,
            "neutral": choice.neutral, "win_loss": choice.win_loss,
        }  # fmt: skip
    return ranker, report


def best_per_event(event_ids: list[str], texts: list[str], p: np.ndarray) -> pl.DataFrame:
    """event_id, rewrite_text, score: each gold turn's best candidate (the one the runtime would apply)."""
    scored = pl.DataFrame({"event_id": event_ids, "rewrite_text": texts, "score": p},
                          schema={"event_id": pl.String, "rewrite_text": pl.String, "score": pl.Float64})  # fmt: skip
    return (
        scored.sort("score", "rewrite_text", descending=[True, False])
        .unique("event_id", keep="first")
        .sort("event_id")
    )


@dataclass(frozen=True)
class Choice:
    threshold: float
    gold_turns: int
    wins: int  # at the threshold, on the choosing gold
    losses: int
    neutral: int

    @property
    def win_loss(self) -> float | None:
        return self.wins / self.losses if self.losses else None


def choose_threshold(
    best: pl.DataFrame,
    gold: pl.DataFrame,
    interpretations: pl.DataFrame,
    win_loss: float,
    confidence: float = 0.0,
    min_wins: int = MIN_WINS,
) -> Choice:
    """The lowest score at which the gold turns scoring at least that much win >= `win_loss` per loss: with
    `confidence` > 0.5, the one-sided Wilson lower bound of their win share at that confidence must reach
    W / (1 + W) (0.8: the share of wins is at least 0.922 with 80% confidence for W = 11.8), a margin for the
    choosing gold being a small sample and the threshold the best of many tried on it."""
    z = NormalDist().inv_cdf(confidence) if confidence > 0.5 else 0.0
    decided = gold.join(best, on="event_id", how="left")
    judged = judge_rewritten(decided, interpretations).filter(pl.col("score").is_not_null())
    ranked = judged.sort("score", descending=True).with_columns(
        wins=(pl.col("outcome") == "win").cum_sum(),
        losses=(pl.col("outcome") == "loss").cum_sum(),
        neutral=(pl.col("outcome") == "neutral").cum_sum(),
    )
    # a threshold is a turn's own score, and it takes every turn tied with it: the last row of each score
    at_score = ranked.group_by("score", maintain_order=True).last()
    n = (pl.col("wins") + pl.col("losses")).cast(pl.Float64)
    share = pl.col("wins") / n
    lower = (share + z * z / (2 * n) - z * ((share * (1 - share) + z * z / (4 * n)) / n).sqrt()) / (
        1 + z * z / n
    )
    ok = at_score.filter((lower >= win_loss / (1 + win_loss)) & (pl.col("wins") >= min_wins))
    if not ok.height:
        return Choice(NEVER, gold.height, 0, 0, 0)
    row = ok.row(ok.height - 1, named=True)
    return Choice(float(row["score"]), gold.height, int(row["wins"]), int(row["losses"]), int(row["neutral"]))

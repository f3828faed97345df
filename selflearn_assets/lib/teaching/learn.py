"""One day of teaching: its moments judged against the gold, and what its teaching turns taught.

`judge_moments(found, gold)`: a detector against the truth of the audited turns: a turn where teaching would
have helped is one that relied on something taught (`preference_use`) and failed. `detect_day` judges the
rules and the learned detector (`moments.MomentModel`, trained on the window's earlier days) on one day.

`extract_day(turns, found, gold, day)`: the span model trained on the teaching turns of the window's days
before `day` (their gold `preference` labels), applied to `day`'s; with too little gold to train (fewer than
`MIN_TRAIN` turns), the rule baseline. Both extractors are judged on `day`'s audited teaching turns, so the
metadata always shows the model beside its baseline; on the simulated world's last day the phrasings are
the held-out ones, which neither saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from selflearn_assets.lib.teaching import moments
from selflearn_assets.lib.teaching.extract import Evidence, RuleExtractor, SpanExtractor, precision_recall
from selflearn_assets.lib.teaching.store import Gold

MIN_TRAIN = 5


def true_moments(gold: Gold) -> set[str]:
    """Audited turns where teaching would have helped: they relied on something taught, and failed."""
    return {e for e in gold.used if e in gold.failure and gold.failure[e] != "correct"}


def judge_moments(
    found: pl.DataFrame, gold: Gold, called: set[str] | None = None, events: set[str] | None = None
) -> dict:
    """Precision and recall on the audited turns (of `events`, default all) of a detector's calls (default: the
    rules, a moment at score >= 1)."""
    audited = gold.annotated if events is None else gold.annotated & events
    truth = true_moments(gold) & audited
    if called is None:
        called = set(found.filter((pl.col("kind") == "moment") & (pl.col("score") >= 1))["event_id"])
    called = called & audited
    right = len(called & truth)
    return {"audited_turns": len(audited), "true_moments": len(truth), "called": len(called), "right": right,
            "precision": right / len(called) if called else None,
            "recall": right / len(truth) if truth else None}  # fmt: skip


def detect_day(turns: pl.DataFrame, found: pl.DataFrame, gold: Gold, day: date) -> dict:
    """The rules and the learned detector (trained on the window's days before `day`) judged on `day`'s gold:
    method -> judge_moments, and the model's training size under "trained_on"."""
    features = moments.moment_features(turns, found)
    before = features.filter((pl.col("day") < day) & pl.col("event_id").is_in(list(gold.annotated)))
    model = moments.MomentModel()
    trained = model.fit(before, true_moments(gold))
    today = found.filter(pl.col("day") == day)
    events = set(turns.filter(pl.col("day") == day)["event_id"])
    judged = {"rules": judge_moments(today, gold, events=events), "trained_on": trained}
    if trained:
        called = model.predict(features.filter(pl.col("day") == day))
        judged["model"] = judge_moments(today, gold, called, events)
    return judged


@dataclass
class Extracted:
    found: pl.DataFrame  # extract.EXTRACTION_COLUMNS of the day's teaching turns
    method: str  # spans | rules
    trained_on: int  # teaching turns the span model learned from (0: not trained)
    judged: dict  # method -> precision_recall on the day's audited teaching turns


def extract_day(turns: pl.DataFrame, exchanges: pl.DataFrame, gold: Gold, day: date) -> Extracted:
    """`exchanges`: the window's teaching turns (`moments.find` rows of kind exchange joined with their turns'
    intent and slots); `turns`: the window's turns (the evidence); `gold`: the window's."""
    evidence = Evidence.of(turns)
    before = exchanges.filter(pl.col("day") < day)
    today = exchanges.filter(pl.col("day") == day)
    span = SpanExtractor(evidence)
    trained = span.fit(before, {e: v for e, v in gold.taught.items() if e in set(before["event_id"])})
    rules = RuleExtractor()
    todays = set(today["event_id"]) | {e for e in gold.taught if e in set(turns.filter(pl.col("day") == day)["event_id"])}
    day_gold = {e: v for e, v in gold.taught.items() if e in todays}
    judged = {"rules": precision_recall(rules.extract(today), day_gold, gold.annotated)}
    if trained:
        judged["spans"] = precision_recall(span.extract(today), day_gold, gold.annotated)
    chosen = span if trained else rules
    return Extracted(chosen.extract(today), chosen.method, trained, judged)


def taught_use_outcomes(prefs: pl.DataFrame, turns: pl.DataFrame, gold: Gold) -> dict:
    """How the audited turns that rely on something taught (gold `preference_use`) fared before and after the
    user taught it, as `prefs` (the reconciled history, `reconcile.PREFERENCE_COLUMNS`) dates the teaching:
    uses and successes before, after, the first use after, and per (user, key) the number of uses after the
    teaching up to the first success (1: the very next one)."""
    taught = {}
    for user, key, since in prefs.select("user_id", "key", "valid_from").iter_rows():
        if (user, key) not in taught or since < taught[(user, key)]:
            taught[(user, key)] = since
    when = {e: (u, t) for e, u, t in turns.select("event_id", "user_id", "ts").iter_rows()}
    uses = sorted(
        (when[e][1], e, when[e][0], key) for e, key in gold.used.items() if e in when and e in gold.failure
    )
    out = {"before": [0, 0], "after": [0, 0], "first_after": [0, 0]}
    tries: dict[tuple[str, str], int] = {}
    first_success: list[int] = []
    for ts, event_id, user, key in uses:
        ok = gold.failure[event_id] == "correct"
        since = taught.get((user, key))
        side = "after" if since is not None and ts > since else "before"
        out[side][0] += 1
        out[side][1] += ok
        if side == "after":
            pair = (user, key)
            if pair not in tries:
                out["first_after"][0] += 1
                out["first_after"][1] += ok
                tries[pair] = 0
            if tries[pair] >= 0:
                tries[pair] += 1
                if ok:
                    first_success.append(tries[pair])
                    tries[pair] = -1  # done: its first success is counted
    report = {f"{side}_uses": n for side, (n, _) in out.items()}
    report.update({f"{side}_success": (s / n if n else None) for side, (n, s) in out.items()})
    report["uses_to_first_success_median"] = (
        sorted(first_success)[len(first_success) // 2] if first_success else None
    )
    report["first_success_on_next_use"] = (
        sum(1 for n in first_success if n == 1) / len(first_success) if first_success else None
    )
    return report

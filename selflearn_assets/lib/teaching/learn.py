"""One day of teaching: its moments judged against the gold, and what its teaching turns taught.

`judge_moments(found, gold)`: the rule detector against the truth of the audited turns: a turn where teaching
would have helped is one that relied on something taught (`preference_use`) and failed.

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

from selflearn_assets.lib.teaching.extract import Evidence, RuleExtractor, SpanExtractor, precision_recall
from selflearn_assets.lib.teaching.store import Gold

MIN_TRAIN = 5


def judge_moments(found: pl.DataFrame, gold: Gold) -> dict:
    """Precision and recall of the rule detector (a moment at score >= 1) on the audited turns."""
    audited = gold.annotated
    truth = {e for e, _ in gold.used.items() if e in audited and gold.failure.get(e) != "correct"}
    called = set(found.filter((pl.col("kind") == "moment") & (pl.col("score") >= 1))["event_id"]) & audited
    right = len(called & truth)
    return {"audited_turns": len(audited), "true_moments": len(truth), "called": len(called), "right": right,
            "precision": right / len(called) if called else None,
            "recall": right / len(truth) if truth else None}  # fmt: skip


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

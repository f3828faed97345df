"""The gold check: does the gold a release is measured on still agree with the single annotator, as it did?

A label's precision target is the single annotator's precision against the same gold the model is measured on,
so corrupted gold lowers the target together with the measurement (shuffled gold: intent precision 0.961 →
0.506, target 0.377, and every precision gate passes). The precision floors (`thresholds.py`) stop that target
from falling; this check looks at the gold itself. Per label task, on the turns of the audit set (the gold
holdout turns the release is measured on: the day's, or the trailing window's when the day has too few) that
carry both a gold and a single-annotator label:

- **agreement**: for goal start, goal success, intent and failure point the exact-match rate of gold and
  annotator (`labels.same_label`); for slots the mean over turns of the Jaccard overlap of the two sets of
  (name, lower-cased value) pairs, 1 when both are empty. A turn where they share one slot of two counts one
  half: an exact-match rate would count it a full disagreement and sink under any floor on slot-rich days.
  For the other labels it is the annotator's precision of `releases.release_quality`, judged on its own;
- a label with under `min_turns` such turns is **not judged** (reported, not failed);
- a judged label **fails** under `floor`, or when its agreement fell by more than `drop_max` from the agreement
  recorded by the newest of the last `GOLD_LOOKBACK` published releases that judged it. A release blocked by
  this check is not published, so corrupted gold never becomes the baseline.

A failing label blocks the day (gate `label_release_gold`): every label's precision is measured on that gold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from selflearn_assets.lib.models.label_eval import slot_set
from selflearn_assets.lib.releases.labels import LABELS, same_label
from selflearn_assets.lib.releases.thresholds import LabelQuality

DEFAULT_GOLD_AGREEMENT_FLOOR = 0.7
DEFAULT_GOLD_AGREEMENT_DROP_MAX = 0.15
DEFAULT_GOLD_MIN_TURNS = 30
GOLD_LOOKBACK = 7  # published releases searched for a label's previous agreement
PASSED, FAILED, NOT_JUDGED = "passed", "failed", "not judged"


@dataclass(frozen=True)
class GoldAgreement:
    agreement: float | None  # None: no turn has both labels
    turns: int  # audit turns with a gold and a single-annotator label


def turn_agreement(label: str, gold, annotator) -> float | None:
    """How far the annotator's value of `label` agrees with gold on one turn, in 0..1 (see the module
    docstring); None when either is missing."""
    if gold is None or annotator is None:
        return None
    if label == "slots":
        a, b = slot_set(gold), slot_set(annotator)
        return len(a & b) / len(a | b) if a or b else 1.0
    return 1.0 if same_label(label, gold, annotator) else 0.0


def gold_agreement(audit: pl.DataFrame, label: str) -> GoldAgreement:
    """Agreement of `gold_<label>` and `ann_<label>` over the rows of the audit frame that have both."""
    pairs = zip(audit[f"gold_{label}"].to_list(), audit[f"ann_{label}"].to_list(), strict=True)
    scores = [s for s in (turn_agreement(label, g, a) for g, a in pairs) if s is not None]
    return GoldAgreement(sum(scores) / len(scores) if scores else None, len(scores))


def gold_agreements(audit: pl.DataFrame) -> dict[str, GoldAgreement]:
    return {label: gold_agreement(audit, label) for label in LABELS}


def previous_agreements(manifests: list[dict], min_turns: int) -> dict[str, tuple[float, date]]:
    """Per label, (agreement, day) of the newest release among `manifests` (published releases, newest first)
    that recorded an agreement on at least `min_turns` turns; labels none judged are left out."""
    found: dict[str, tuple[float, date]] = {}
    for manifest in manifests:
        for label in LABELS:
            q = manifest.get("quality", {}).get(label, {})
            if (
                label not in found
                and q.get("gold_agreement") is not None
                and (q.get("gold_turns") or 0) >= min_turns
            ):
                found[label] = (float(q["gold_agreement"]), date.fromisoformat(manifest["date"]))
    return found


def with_gold_agreement(
    qualities: list[LabelQuality], audit: pl.DataFrame, published: list[dict], min_turns: int
) -> list[LabelQuality]:
    """`qualities` with what the gold check needs: each label's agreement on the audit frame and its baseline
    among the `published` manifests (newest first; see `previous_agreements`)."""
    agreement, baseline = gold_agreements(audit), previous_agreements(published, min_turns)
    return [
        replace(
            q,
            gold_agreement=agreement[q.label].agreement,
            gold_turns=agreement[q.label].turns,
            gold_agreement_previous=baseline[q.label][0] if q.label in baseline else None,
            gold_previous_day=baseline[q.label][1] if q.label in baseline else None,
        )
        for q in qualities
    ]


@dataclass(frozen=True)
class GoldVerdict:
    """One label's gold check."""

    label: str
    agreement: float | None
    turns: int
    previous: float | None  # the baseline's agreement
    previous_day: date | None  # the published release it was recorded by
    judged: bool
    drop: float | None  # previous - agreement (None: not judged or no baseline)
    problem: str | None  # why it fails; None when it passes or is not judged

    @property
    def verdict(self) -> str:
        return NOT_JUDGED if not self.judged else FAILED if self.problem else PASSED


def judge_gold(quality: pl.DataFrame, floor: float, drop_max: float, min_turns: int) -> list[GoldVerdict]:
    """The gold check of each label, in `LABELS` order, from `releases.release_quality` rows (`gold_agreement`,
    `gold_turns`, `gold_agreement_previous`, `gold_previous_day`)."""
    rows = {r["label"]: r for r in quality.iter_rows(named=True)}
    verdicts = []
    for label in LABELS:
        r = rows.get(label, {})
        agreement, turns = r.get("gold_agreement"), int(r.get("gold_turns") or 0)
        previous, previous_day = r.get("gold_agreement_previous"), r.get("gold_previous_day")
        judged = agreement is not None and turns >= min_turns
        drop = round(previous - agreement, 9) if judged and previous is not None else None
        problems = []
        if judged and agreement < floor:
            problems.append(f"{agreement:.3f} under the floor {floor:.2f} on {turns} turns")
        if drop is not None and drop > drop_max:
            problems.append(
                f"down from {previous:.3f} (release of {previous_day}) to {agreement:.3f}, a drop of {drop:.3f} "
                f"> {drop_max:.2f}"
            )
        problem = f"{label} {', '.join(problems)}" if problems else None
        verdicts.append(GoldVerdict(label, agreement, turns, previous, previous_day, judged, drop, problem))
    return verdicts


def gold_section(quality: pl.DataFrame, floor: float, drop_max: float, min_turns: int) -> dict:
    """The manifest's `gold` section: the check's settings and, per label, what it measured and its verdict."""
    return {
        "agreement_floor": floor,
        "agreement_drop_max": drop_max,
        "min_turns": min_turns,
        "labels": {
            v.label: {
                "agreement": v.agreement,
                "turns": v.turns,
                "previous": v.previous,
                "previous_day": v.previous_day.isoformat() if v.previous_day else None,
                "verdict": v.verdict,
                "problem": v.problem,
            }
            for v in judge_gold(quality, floor, drop_max, min_turns)
        },
    }

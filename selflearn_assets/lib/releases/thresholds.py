"""Release thresholds: per label, the lowest confidence at which the model is as precise as a human.

On the audit set (gold holdout turns), a label's precision at threshold t is the share of turns with
confidence >= t whose label agrees with gold, and its throughput (coverage) the share of turns with
confidence >= t. The target is the single annotator's precision on the same audit turns (the annotator
labels every turn, so that is its accuracy there) or a fixed number, raised to the label's **precision floor**
when under it (`target_source` then says `floor`): the annotator is measured against the same gold as the
model, so corrupted gold lowers that target together with the measurement, and the floor (default 0.8, per
label overridable) keeps a label that only matches bad gold from going out. The chosen threshold is the lowest
confidence value reaching the target with at least `min_support` audit turns at or above it: the most
throughput at the target precision. Precision is not monotone in t, so every distinct confidence is tried.

Precision measured on the turns the threshold was chosen on is optimistic. With cross-fitting
(`measure_label_cross_fit`), the audit set is split in two halves by a salted hash of the session id (a session
is in one half; the hash is independent of the holdout's): the threshold is chosen on half A, and the precision
is also measured on half B, which played no part in the choice. Only A → B is used (no swap): the released
threshold is the one chosen on A. The target (the annotator's precision) is measured on the whole audit set: it
does not look at the model's labels.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from selflearn_assets.lib.releases.labels import LABELS

ANNOTATOR, FIXED, FLOOR = "annotator", "fixed", "floor"  # where a label's precision target comes from
DEFAULT_PRECISION_FLOOR = 0.8
RELEASED, WITHHELD = "released", "withheld"  # a label's status in the day's release


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float | None  # None: no confidence reaches the target
    precision: float | None
    released: int  # audit turns at or above the threshold
    total: int  # audit turns
    hits: int = 0  # released turns that agree with gold

    @property
    def coverage(self) -> float:
        return self.released / self.total if self.total else 0.0


@dataclass(frozen=True)
class LabelQuality:
    """One label's release threshold and what was measured at it (a row of `releases.release_quality`)."""

    label: str
    threshold: float | None
    target: float | None
    target_source: str  # annotator | fixed | floor (the annotator's or fixed target was under the floor)
    annotator_precision: float | None
    annotator_turns: int
    precision: float | None
    precision_low: float | None  # 95% Wilson lower bound of `precision`
    audit_turns: int
    audit_released: int
    coverage_audit: float
    model_accuracy: float | None  # no threshold, on the turns the annotator labelled
    pct_of_human: float | None
    coverage_day: float = 0.0
    drift: float | None = None
    drift_against: object = None  # date of the previous release
    status: str = RELEASED  # released | withheld (null on every turn of the day; see `withhold.py`)
    reason: str | None = None  # why it is withheld
    # cross-fitting: `precision`, `audit_*` and `coverage_audit` are then on the choosing half (A), these on B
    split: str = "none"  # none (chosen and measured on the whole audit set) | A/B
    precision_heldout: float | None = None  # precision at the threshold on half B
    precision_heldout_low: float | None = None  # its 95% Wilson lower bound
    heldout_turns: int | None = None
    heldout_released: int | None = None
    precision_floor: float | None = None  # the least target of the label, whatever the annotator's precision
    # the gold check (`gold.py`): gold vs the single annotator on the audit turns, and the published baseline
    gold_agreement: float | None = None
    gold_turns: int = 0
    gold_agreement_previous: float | None = None
    gold_previous_day: object = None  # date of the release that recorded the baseline


def parse_target(setting: str | float) -> float | None:
    """`"annotator"` → None (the annotator's precision, per label); a number in (0, 1] → that number."""
    if isinstance(setting, str) and setting.strip().lower() == ANNOTATOR:
        return None
    try:
        value = float(setting)
    except (TypeError, ValueError):
        raise ValueError(
            f'precision_target must be "annotator" or a number in (0, 1], got {setting!r}'
        ) from None
    if not 0.0 < value <= 1.0:
        raise ValueError(f"precision_target must be in (0, 1], got {value}")
    return value


def precision_floors(default: float, overrides: dict[str, float] | None = None) -> dict[str, float]:
    """The precision floor of every label: `overrides[label]` where given, else `default`."""
    return {label: float((overrides or {}).get(label, default)) for label in LABELS}


def effective_target(base: float | None, floor: float) -> tuple[float | None, bool]:
    """(target, whether the floor set it): max(`base`, `floor`); None without a base (no annotator labels)."""
    if base is None:
        return None, False
    return (floor, True) if floor > base else (base, False)


def choose_threshold(confidence, correct, target: float | None, min_support: int = 1) -> ThresholdChoice:
    """The lowest threshold t among the confidences such that precision(conf >= t) >= target and at least
    `min_support` turns have conf >= t; ties in confidence are released together."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    n = conf.size
    if n == 0 or target is None:
        return ThresholdChoice(None, None, 0, n)
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    released = np.arange(1, n + 1)
    hits = np.cumsum(ok)
    group_end = np.flatnonzero(np.r_[conf[1:] != conf[:-1], True])  # last row of each tie group
    precision = hits[group_end] / released[group_end]
    good = np.flatnonzero((precision >= target) & (released[group_end] >= min_support))
    if good.size == 0:
        return ThresholdChoice(None, None, 0, n)
    j = group_end[good[-1]]
    return ThresholdChoice(float(conf[j]), float(hits[j] / released[j]), int(released[j]), n, int(hits[j]))


def wilson_low(hits: int, n: int, z: float = 1.96) -> float | None:
    if n == 0:
        return None
    p = hits / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def measure_label(
    audit: pl.DataFrame, label: str, target: float | None, min_support: int = 1, floor: float = 0.0
) -> LabelQuality:
    """Threshold and quality of `label` on the audit frame (columns of `audit_set.audit_frame`); `target`
    None means the annotator's precision; the target is raised to `floor` when under it."""
    rows = audit.filter(
        pl.col(f"{label}_correct").is_not_null() & pl.col(f"{label}_confidence").is_not_null()
    )
    human = rows.filter(pl.col(f"ann_{label}_correct").is_not_null())
    annotator = float(human[f"ann_{label}_correct"].mean()) if human.height else None
    goal, floored = effective_target(annotator if target is None else target, floor)
    choice = choose_threshold(
        rows[f"{label}_confidence"].to_numpy(), rows[f"{label}_correct"].to_numpy(), goal, min_support
    )
    model_accuracy = float(human[f"{label}_correct"].mean()) if human.height else None
    return LabelQuality(
        label=label,
        threshold=choice.threshold,
        target=goal,
        target_source=FLOOR if floored else ANNOTATOR if target is None else FIXED,
        annotator_precision=annotator,
        annotator_turns=human.height,
        precision=choice.precision,
        precision_low=None if choice.threshold is None else wilson_low(choice.hits, choice.released),
        audit_turns=choice.total,
        audit_released=choice.released,
        coverage_audit=choice.coverage,
        model_accuracy=model_accuracy,
        pct_of_human=model_accuracy / annotator if model_accuracy is not None and annotator else None,
        precision_floor=floor,
    )


SPLIT_SALT = "release-threshold-half:"


def audit_half(session_id: str) -> str:
    """ "A" (threshold chosen there) or "B" (precision reported there): sha256 of the salted session id."""
    return (
        "A" if int(hashlib.sha256((SPLIT_SALT + session_id).encode()).hexdigest()[:8], 16) % 2 == 0 else "B"
    )


def measure_label_cross_fit(
    audit: pl.DataFrame, label: str, target: float | None, min_support: int = 1, floor: float = 0.0
) -> LabelQuality:
    """`measure_label` with the threshold chosen on half A of the audit sessions and its precision also
    measured on half B (`precision_heldout`, with its Wilson lower bound); the target is set on the whole set."""
    half = audit["session_id"].map_elements(audit_half, return_dtype=pl.String)
    whole = measure_label(audit, label, target, min_support, floor)
    chosen = measure_label(audit.filter(half == "A"), label, whole.target, min_support, floor)
    heldout = audit.filter(
        (half == "B") & pl.col(f"{label}_correct").is_not_null() & pl.col(f"{label}_confidence").is_not_null()
    )
    released = (
        heldout.filter(pl.col(f"{label}_confidence") >= chosen.threshold)
        if chosen.threshold is not None
        else heldout.clear()
    )
    hits = int(released[f"{label}_correct"].sum())
    return replace(
        chosen,
        target_source=whole.target_source,
        annotator_precision=whole.annotator_precision,
        annotator_turns=whole.annotator_turns,
        model_accuracy=whole.model_accuracy,
        pct_of_human=whole.pct_of_human,
        split="A/B",
        precision_heldout=hits / released.height if released.height else None,
        precision_heldout_low=wilson_low(hits, released.height),
        heldout_turns=heldout.height,
        heldout_released=released.height,
    )

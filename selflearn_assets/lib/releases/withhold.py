"""Which labels a day's release carries: a label that fails its own gate is withheld, the rest go out.

A label is **withheld** for the day (null on every turn; its confidences stay) when it has no precision target
(no single-annotator labels on the audit set), when no confidence reaches the target with `min_support` audit
turns, or when the turns at or over its threshold are under `coverage_floor` of the day. The target is at least
the label's precision floor (`thresholds.py`); when the floor set it, the reason says so. The day itself is
**blocked** (nothing published) when a required label is withheld or every label is: see `blocking_reasons`.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from selflearn_assets.lib.releases.build import coverage, release_frame
from selflearn_assets.lib.releases.labels import LABELS
from selflearn_assets.lib.releases.thresholds import FLOOR, RELEASED, WITHHELD, LabelQuality

DEFAULT_REQUIRED = ("failure_point",)


def withhold_reason(q: LabelQuality, coverage_floor: float) -> str | None:
    """Why `q.label` cannot be released today, or None; `q.coverage_day` is the day's coverage at its threshold."""
    if q.target is None:
        return "no single-annotator labels on the audit set to set the precision target"
    floor_note = _floor_note(q)
    if q.threshold is None or q.precision is None:
        return f"no threshold reaches precision {q.target:.3f} on {q.audit_turns} audit turns{floor_note}"
    if q.precision < q.target:
        return f"precision {q.precision:.3f} < target {q.target:.3f}{floor_note}"
    if q.coverage_day < coverage_floor:
        return (
            f"coverage {q.coverage_day:.1%} of the day's turns at threshold {q.threshold:.3f}, "
            f"under the floor {coverage_floor:.0%}"
        )
    return None


def _floor_note(q: LabelQuality) -> str:
    """Why the target is what it is, when the precision floor set it."""
    if q.target_source != FLOOR:
        return ""
    if q.annotator_precision is None:
        return " (the precision floor)"
    return f" (the precision floor; the single annotator's precision is {q.annotator_precision:.3f})"


def gate_labels(
    day_labels: pl.DataFrame, qualities: list[LabelQuality], coverage_floor: float
) -> tuple[pl.DataFrame, list[LabelQuality]]:
    """The release frame of the day and the qualities completed with `coverage_day` (at the label's threshold)
    and `status`/`reason`: each label released at its threshold, or null on every turn when withheld."""
    at_threshold = release_frame(day_labels, {q.label: q.threshold for q in qualities})
    decided = []
    for q in qualities:
        q = replace(q, coverage_day=coverage(at_threshold, q.label))
        reason = withhold_reason(q, coverage_floor)
        decided.append(replace(q, status=WITHHELD if reason else RELEASED, reason=reason))
    release = release_frame(
        day_labels, {q.label: q.threshold if q.status == RELEASED else None for q in decided}
    )
    return release, decided


def blocking_reasons(withheld: dict[str, str], required: list[str] | tuple[str, ...]) -> list[str]:
    """Why the day cannot be published given its withheld labels ({label: reason}); empty when it can."""
    reasons = [
        f"required label {label} withheld: {withheld[label]}" for label in required if label in withheld
    ]
    if all(label in withheld for label in LABELS):
        reasons.append("every label withheld")
    return reasons

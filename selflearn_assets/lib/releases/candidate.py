"""The candidate label release of a day: the rows, per-label quality and build record `label_release` writes.

From the day's labelled turns and audit set (`inputs.py`) and the run config (`params.py`), per label in
`LABELS` order:

1. the threshold and what was measured at it on the audit set (`thresholds.py`): chosen on half A and measured
   again on half B when `cross_fit`, else chosen and measured on the whole set; the precision target raised to
   the label's floor (`precision_floor`, `precision_floors`);
2. released at its threshold, or withheld for the day when it fails its own gate (`withhold.py`);
3. the drift of its distribution from the previous published release (`drift.py`; None without one);
4. the gold check's agreement of the audit gold with the single annotator, and its published baseline
   (`gold.py`).

Nothing here reads or writes: `store.write_release_day` writes the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from selflearn_assets.lib.releases.drift import release_drift
from selflearn_assets.lib.releases.gold import with_gold_agreement
from selflearn_assets.lib.releases.inputs import PublishedBefore, ReleaseInputs
from selflearn_assets.lib.releases.labels import LABELS
from selflearn_assets.lib.releases.store import quality_frame
from selflearn_assets.lib.releases.thresholds import (
    WITHHELD,
    LabelQuality,
    measure_label,
    measure_label_cross_fit,
    parse_target,
    precision_floors,
)
from selflearn_assets.lib.releases.withhold import gate_labels


@dataclass(frozen=True)
class CandidateRelease:
    release: pl.DataFrame  # the day's `releases.label_release` rows (`build.RELEASE_COLUMNS`)
    qualities: list[LabelQuality]  # per label, in `LABELS` order
    quality: pl.DataFrame  # the same as `releases.release_quality` rows
    floors: dict[str, float]  # the precision floor of each label
    build: dict  # the `releases.release_builds` row: params, audit set, accounting, previous release
    warnings: list[str]  # what the run should warn about: a small audit set, each withheld label


def build_candidate(inputs: ReleaseInputs, published: PublishedBefore, params: dict) -> CandidateRelease:
    """The release of `inputs.day` under the run config `params` (valid: see `params.param_problems`), its
    drift measured against `published.table` and its gold baseline found in `published.manifests`."""
    audit, warnings = inputs.audit, []
    if audit.turns < params["audit_min_turns"]:
        warnings.append(
            f"audit set of {audit.turns} gold holdout turns ({audit.source}: {audit.days}) is under "
            f"audit_min_turns={params['audit_min_turns']}; thresholds and precision are uncertain"
        )
    measure = measure_label_cross_fit if params["cross_fit"] else measure_label
    target = parse_target(params["precision_target"])
    floors = precision_floors(params["precision_floor"], params["precision_floors"])
    qualities = [
        measure(audit.frame, label, target, params["min_support"], floors[label]) for label in LABELS
    ]
    release, qualities = gate_labels(inputs.day_labels, qualities, params["coverage_floor"])
    warnings += [
        f"{q.label} withheld for {inputs.day}: {q.reason}" for q in qualities if q.status == WITHHELD
    ]
    drift = release_drift(release, published.table)
    qualities = [replace(q, drift=drift[q.label], drift_against=published.baseline_day) for q in qualities]
    qualities = with_gold_agreement(qualities, audit.frame, published.manifests, params["gold_min_turns"])
    build = {
        "params": params,
        "audit_source": audit.source,
        "audit_days": audit.days,
        "audit_turns": audit.turns,
        "clean_turns": inputs.day_labels.height,
        **inputs.missing,
        "previous_release": str(published.baseline) if published.baseline else None,
    }
    return CandidateRelease(release, qualities, quality_frame(qualities), floors, build, warnings)

"""The export of a built release: its gates evaluated again on the stored rows, its manifest, and publication.

`label_release_export` publishes what `label_release` stored (`store.stored_release`) only when every blocking
gate passes on it (`gates.all_gates`, with the thresholds of the run config the release was built with);
otherwise `publish.publish_release` raises `ReleaseRefused` and the previous release stays. The manifest says
which models produced the rows (`provenance.py`), each label's threshold, precision floor and quality on the
audit set, the withheld labels and why, the gold check (`gold.gold_section`), the audit set and the release
drift was measured against; `publish_release` completes it with row counts, gate results and checksums.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from selflearn_assets.lib.releases.gates import GateResult, all_gates, gold_params, withheld_labels
from selflearn_assets.lib.releases.gold import gold_section
from selflearn_assets.lib.releases.labels import LABELS
from selflearn_assets.lib.releases.provenance import model_versions
from selflearn_assets.lib.releases.publish import publish_release, quality_sections
from selflearn_assets.lib.releases.store import StoredRelease
from selflearn_assets.lib.releases.withhold import DEFAULT_REQUIRED

AUDIT_HOLDOUT = "gold-annotated turns of audit-holdout sessions (lib/models/audit.py)"


@dataclass(frozen=True)
class ExportedRelease:
    folder: Path  # exports/labels/date=D/
    gates: list[GateResult]
    manifest: dict  # as given to `publish_release` (which completes the file's)


def release_manifest(
    release: pl.DataFrame,
    quality: pl.DataFrame,
    build: dict,
    mlflow_home: str | Path | None,
    provenance: dict,
) -> dict:
    """The manifest of a release before `publish_release` completes it; `provenance` (the run that exports it)
    goes last."""
    thresholds, quality_section = quality_sections(quality)
    return {
        "precision_floors": {label: quality_section[label]["precision_floor"] for label in LABELS},
        "gold": gold_section(quality, *gold_params(build["params"])),
        "models": model_versions(release, mlflow_home),
        "thresholds": thresholds,
        "withheld": withheld_labels(quality),
        "required_labels": build["params"].get("required_labels", list(DEFAULT_REQUIRED)),
        "quality": quality_section,
        "audit": {
            "source": build["audit_source"],
            "days": [d.isoformat() for d in build["audit_days"]],
            "turns": build["audit_turns"],
            "holdout": AUDIT_HOLDOUT,
        },
        "drift_against": build["previous_release"],
        "params": build["params"],
        **provenance,
    }


def export_release(
    exports_root: str | Path,
    day: date,
    stored: StoredRelease,
    mlflow_home: str | Path | None,
    provenance: dict,
) -> ExportedRelease:
    """Publish the stored release of `day` under `exports_root` when its gates pass; raises
    `publish.ReleaseRefused`, writing nothing, when a blocking gate fails."""
    gates = all_gates(stored.release, stored.counts, stored.quality, stored.build["params"])
    manifest = release_manifest(stored.release, stored.quality, stored.build, mlflow_home, provenance)
    folder = publish_release(exports_root, day, stored.release, manifest, gates)
    return ExportedRelease(folder, gates, manifest)

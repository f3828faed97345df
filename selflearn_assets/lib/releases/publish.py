"""`exports/labels/date=D/`: labels.parquet + manifest.json + DATACARD.md, published only when the gates pass.

The folder is written beside its final place and renamed into it (`day_folders.atomic_folder_write`), so a
reader never sees half a release; re-publishing a day replaces the folder. A release with a failed blocking
gate is refused before anything is written: the previous release (of that day or an earlier one) stays where
it is. A label withheld for the day is null on every turn; the manifest's `withheld` says which and why. The
manifest records the model versions, thresholds, withheld labels, quality on the audit set, gate results, row
counts and sha256 of the parquet and the data card; `read_release` verifies them.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from selflearn_assets.lib.day_folders import atomic_folder_write, latest_day, sha256
from selflearn_assets.lib.releases.datacard import render_datacard
from selflearn_assets.lib.releases.gates import GATES, GateResult, blocking_failures
from selflearn_assets.lib.releases.labels import LABELS

TABLE = "labels.parquet"
MANIFEST = "manifest.json"
DATACARD = "DATACARD.md"


class ReleaseError(Exception):
    """Not a usable label release where one was asked for; the message says what is wrong."""


class ReleaseRefused(ReleaseError):
    """A release with a failed blocking gate (or a gate not evaluated); nothing was written."""

    def __init__(self, day: date, reasons: list[str], previous: Path | None):
        self.reasons = reasons
        self.previous = previous
        kept = f"the release in place stays {previous}" if previous else "no earlier release exists"
        super().__init__(f"label release {day} not published ({kept}): " + "; ".join(reasons))


def release_folder(exports_root: str | Path, day: date) -> Path:
    return Path(exports_root) / "labels" / f"date={day.isoformat()}"


def quality_sections(quality: pl.DataFrame) -> tuple[dict, dict]:
    """(thresholds, quality) of the manifest from `releases.release_quality` rows: per label its threshold;
    per label precision and coverage on the audit set (and the rest of the row), plus
    `failure_point_pct_of_human`."""
    rows = {r["label"]: r for r in quality.iter_rows(named=True)}
    thresholds = {label: rows[label]["threshold"] for label in LABELS}
    section: dict = {
        label: {
            "precision": rows[label]["precision"],
            "coverage": rows[label]["coverage_audit"],
            "precision_low_95": rows[label]["precision_low"],
            "target": rows[label]["target"],
            "target_source": rows[label]["target_source"],
            "annotator_precision": rows[label]["annotator_precision"],
            "audit_turns": rows[label]["audit_turns"],
            "coverage_day": rows[label]["coverage_day"],
            "drift": rows[label]["drift"],
            "status": rows[label]["status"],
            "reason": rows[label]["reason"],
            "split": rows[label]["split"],
            "precision_heldout": rows[label]["precision_heldout"],
            "precision_heldout_low_95": rows[label]["precision_heldout_low"],
            "heldout_turns": rows[label]["heldout_turns"],
            "precision_floor": rows[label]["precision_floor"],
            "gold_agreement": rows[label]["gold_agreement"],
            "gold_turns": rows[label]["gold_turns"],
            "gold_agreement_previous": rows[label]["gold_agreement_previous"],
            "gold_previous_day": rows[label]["gold_previous_day"],
        }
        for label in LABELS
    }
    section["failure_point_pct_of_human"] = rows["failure_point"]["pct_of_human"]
    return thresholds, section


def row_counts(table: pl.DataFrame) -> dict[str, int]:
    """The manifest's `row_counts` of a release table: its turns and, per label, the turns it is released
    on."""
    return {
        "turns": table.height,
        **{f"{label}_released": int(table[label].is_not_null().sum()) for label in LABELS},
    }


def publish_release(
    exports_root: str | Path, day: date, table: pl.DataFrame, manifest: dict, gates: list[GateResult]
) -> Path:
    """Publish `table` as the release of `day` with `manifest` (models, thresholds, withheld, quality, audit…)
    completed by rows, columns, row counts, checks and checksums, and its data card. Raises ReleaseRefused,
    writing nothing, when a blocking gate failed or a gate is missing."""
    evaluated = {g.name for g in gates}
    reasons = [f"{g.name}: {g.description}" for g in blocking_failures(gates)]
    reasons += [f"{name}: not evaluated" for name in GATES if name not in evaluated]
    if reasons:
        raise ReleaseRefused(day, reasons, latest_release(exports_root, on_or_before=day))
    final = release_folder(exports_root, day)
    with atomic_folder_write(final) as staging:
        table.write_parquet(staging / TABLE)
        full = {
            "kind": "label_release",
            "withheld": {},
            **manifest,
            "date": day.isoformat(),
            "rows": table.height,
            "columns": {c: str(t) for c, t in table.schema.items()},
            "row_counts": row_counts(table),
            "checks": {
                "passed": [g.name for g in gates if g.passed],
                "warnings": [g.name for g in gates if not g.passed and not g.blocking],
                "results": [g.summary() for g in gates],
            },
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (staging / DATACARD).write_text(render_datacard(full), encoding="utf-8")
        full["sha256"] = {TABLE: sha256(staging / TABLE), DATACARD: sha256(staging / DATACARD)}
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, default=str) + "\n", encoding="utf-8")
    return final


def read_release(folder: str | Path) -> tuple[pl.DataFrame, dict]:
    """The release table and manifest of `folder`, after checking the files, checksums and row count."""
    folder = Path(folder)
    missing = [name for name in (TABLE, MANIFEST, DATACARD) if not (folder / name).exists()]
    if missing:
        raise ReleaseError(f"{folder} is not a label release: missing {', '.join(missing)}")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    for name in (TABLE, DATACARD):
        if manifest.get("sha256", {}).get(name) != sha256(folder / name):
            raise ReleaseError(f"{folder / name} does not match the sha256 in its manifest")
    table = pl.read_parquet(folder / TABLE)
    if table.height != manifest.get("rows"):
        raise ReleaseError(
            f"{folder / TABLE} has {table.height} rows, its manifest says {manifest.get('rows')}"
        )
    return table, manifest


def published_manifests(exports_root: str | Path, before: date, limit: int) -> list[dict]:
    """The manifests of the newest `limit` published releases strictly before `before`, newest first (an
    unreadable manifest is skipped: the release is not a usable baseline)."""
    manifests, day = [], before
    while len(manifests) < limit and (folder := latest_release(exports_root, before=day)) is not None:
        day = date.fromisoformat(folder.name.removeprefix("date="))
        try:
            manifests.append(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return manifests


def latest_release(
    exports_root: str | Path, before: date | None = None, on_or_before: date | None = None
) -> Path | None:
    """The newest published release folder strictly before `before` (or on or before `on_or_before`)."""
    day = latest_day(Path(exports_root) / "labels", MANIFEST, before=before, on_or_before=on_or_before)
    return release_folder(exports_root, day) if day is not None else None

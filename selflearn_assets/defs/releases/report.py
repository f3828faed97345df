"""What the release assets show in the Dagster UI: per-label tables sized for the metadata column, and each
asset's `MaterializeResult` metadata (the work is done in `selflearn_assets/lib/releases/`)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import day_metadata, fmt, home_relative, markdown_table, pct, rounded
from selflearn_assets.lib.releases import ReleaseRefused
from selflearn_assets.lib.releases.candidate import CandidateRelease
from selflearn_assets.lib.releases.export import ExportedRelease
from selflearn_assets.lib.releases.gates import gold_params, withheld_labels
from selflearn_assets.lib.releases.gold import gold_section
from selflearn_assets.lib.releases.inputs import PublishedBefore, ReleaseInputs
from selflearn_assets.lib.releases.labels import LABELS
from selflearn_assets.lib.releases.thresholds import RELEASED

PREVIEW = ["event_id", "intent", ("failure_point", "failure point")]


def release_metadata(
    duckdb: DuckDBResource,
    partition_key: str,
    inputs: ReleaseInputs,
    published: PublishedBefore,
    candidate: CandidateRelease,
    home,
) -> dict:
    """`label_release`'s metadata: the stored rows' preview, the per-label tables, thresholds, withheld labels,
    floors, gold check, audit set and released turns, and the release drift was measured against."""
    quality, qualities, audit = candidate.quality, candidate.qualities, inputs.audit
    return {
        **day_metadata(duckdb, "releases.label_release", partition_key, PREVIEW),
        "quality": dg.MetadataValue.md(quality_table(quality)),
        "targets": dg.MetadataValue.md(targets_table(quality)),
        "throughput": dg.MetadataValue.md(throughput_table(quality)),
        "thresholds": dg.MetadataValue.json(rounded({q.label: q.threshold for q in qualities})),
        "withheld": dg.MetadataValue.json(withheld_labels(quality)),
        "precision_floors": dg.MetadataValue.json(candidate.floors),
        "gold_check": dg.MetadataValue.json(
            rounded(gold_section(quality, *gold_params(candidate.build["params"]))["labels"])
        ),
        "audit_set": f"{audit.turns:,} gold holdout turns, {audit.source}: {', '.join(map(str, audit.days))}",
        "failure_point_pct_of_human": _pct(qualities[LABELS.index("failure_point")].pct_of_human),
        "released_turns": dg.MetadataValue.json(
            {label: int(candidate.release[label].is_not_null().sum()) for label in LABELS}
        ),
        "previous_release": home_relative(published.baseline, home) if published.baseline else "none",
    }


def export_metadata(exported: ExportedRelease, rows: int, home) -> dict:
    """`label_release_export`'s metadata: where the release went, its rows, the gates passed and warned about."""
    gates = exported.gates
    return {
        "path": home_relative(exported.folder, home),
        "absolute_path": dg.MetadataValue.path(str(exported.folder)),
        "dagster/row_count": rows,
        "checks_passed": dg.MetadataValue.json([g.name for g in gates if g.passed]),
        "warnings": dg.MetadataValue.json([g.description for g in gates if not g.passed]),
        "thresholds": dg.MetadataValue.json(rounded(exported.manifest["thresholds"])),
        "withheld": dg.MetadataValue.json(exported.manifest["withheld"]),
    }


def refused_metadata(err: ReleaseRefused, home) -> dict:
    """The failure's metadata when the export refused to publish: the failed gates and the release kept."""
    return {
        "failed_gates": dg.MetadataValue.json(err.reasons),
        "kept": home_relative(err.previous, home) if err.previous else "none",
    }


def _pct(value) -> dg.MetadataValue:
    return dg.MetadataValue.text(pct(value)) if value is not None else dg.MetadataValue.null()


def with_low(value, low) -> str:
    """A precision and its 95% lower bound as "0.944 (0.910)" ("" without a precision)."""
    if value is None:
        return ""
    return fmt(value) if low is None else f"{fmt(value)} ({fmt(low)})"


def label_with_status(row) -> str:
    """A quality row's label, with its status when withheld: "slots (withheld)"."""
    return row["label"] if row["status"] == RELEASED else f"{row['label']} ({row['status']})"


def quality_table(quality) -> str:
    """Per label ("slots (withheld)" for a withheld one): the precision target, and the precision at the
    threshold with its 95% Wilson lower bound, on the audit turns that chose the threshold (half A when
    cross-fitted, else the whole audit set) and on the held-out half B (empty when not cross-fitted): what the
    release promises."""
    rows = [
        (
            label_with_status(r),
            fmt(r["target"]),
            with_low(r["precision"], r["precision_low"]),
            with_low(r["precision_heldout"], r["precision_heldout_low"]),
        )
        for r in quality.iter_rows(named=True)
    ]
    return markdown_table(["label", "target", "precision (95% low)", "held-out (95% low)"], rows)


def targets_table(quality) -> str:
    """Per label: the threshold chosen, where the precision target comes from (annotator, fixed or the precision
    floor), the floor and the single annotator's precision."""
    rows = [
        (
            r["label"],
            fmt(r["threshold"]),
            r["target_source"],
            fmt(r["precision_floor"]),
            fmt(r["annotator_precision"]),
        )
        for r in quality.iter_rows(named=True)
    ]
    return markdown_table(["label", "threshold", "target source", "floor", "annotator"], rows)


def throughput_table(quality) -> str:
    """Per label: the share of the audit turns and of the day's turns at or over the threshold, the audit turns
    it is measured on (and the held-out half's), and the drift from the previous published release."""
    rows = [
        (
            r["label"],
            pct(r["coverage_audit"]),
            pct(r["coverage_day"]),
            f"{r['audit_turns']:,}" + ("" if r["heldout_turns"] is None else f" ({r['heldout_turns']:,})"),
            fmt(r["drift"]),
        )
        for r in quality.iter_rows(named=True)
    ]
    return markdown_table(["label", "audit %", "day %", "audit turns (held-out)", "drift (TVD)"], rows)

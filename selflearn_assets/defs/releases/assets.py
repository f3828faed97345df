"""Releases: the day's labels at human-level precision, gated, and their publication as a versioned export."""

from dataclasses import replace
from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from selflearn_assets.defs.metadata import (
    day_metadata,
    fmt,
    home_relative,
    markdown_table,
    pct,
    rounded,
    stage,
    table_definition,
)
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day
from selflearn_assets.defs.resources import MLflowResource, SelflearnConfig
from selflearn_assets.lib.releases import (
    ReleaseError,
    ReleaseRefused,
    latest_release,
    publish_release,
    read_release,
)
from selflearn_assets.lib.releases.audit_set import AuditSetError, load_audit_set
from selflearn_assets.lib.releases.build import load_day, missing_counts
from selflearn_assets.lib.releases.drift import release_drift
from selflearn_assets.lib.releases.gates import all_gates, gold_params, withheld_labels
from selflearn_assets.lib.releases.gold import (
    DEFAULT_GOLD_AGREEMENT_DROP_MAX,
    DEFAULT_GOLD_AGREEMENT_FLOOR,
    DEFAULT_GOLD_MIN_TURNS,
    GOLD_LOOKBACK,
    gold_section,
    with_gold_agreement,
)
from selflearn_assets.lib.releases.labels import LABELS
from selflearn_assets.lib.releases.provenance import model_versions
from selflearn_assets.lib.releases.publish import published_manifests, quality_sections
from selflearn_assets.lib.releases.store import (
    accounting_counts,
    build_of_day,
    quality_frame,
    quality_of_day,
    release_of_day,
    write_release_day,
)
from selflearn_assets.lib.releases.thresholds import (
    DEFAULT_PRECISION_FLOOR,
    RELEASED,
    WITHHELD,
    measure_label,
    measure_label_cross_fit,
    parse_target,
    precision_floors,
)
from selflearn_assets.lib.releases.withhold import DEFAULT_REQUIRED, gate_labels
from selflearn_assets.lib.sql import run_sql

PREVIEW = ["event_id", "intent", ("failure_point", "failure point")]


class ReleaseConfig(dg.Config):
    """How a label release is chosen and gated (see `selflearn_assets/lib/releases/`)."""

    precision_target: str = Field(
        default="annotator",
        description='per-label precision to reach on the audit set: "annotator" (the single annotator\'s '
        "precision on the same turns) or a number in (0, 1]",
    )
    precision_floor: float = Field(
        default=DEFAULT_PRECISION_FLOOR,
        description="least precision target of every label: the target is max(precision_target, this), so "
        "gold that lowers the annotator's precision does not lower the bar with it",
    )
    precision_floors: dict[str, float] = Field(
        default={},
        description="per-label precision floors overriding precision_floor, e.g. {slots: 0.7}",
    )
    gold_agreement_floor: float = Field(
        default=DEFAULT_GOLD_AGREEMENT_FLOOR,
        description="least agreement of the audit gold with the single annotator, per label; under it the day "
        "is blocked",
    )
    gold_agreement_drop_max: float = Field(
        default=DEFAULT_GOLD_AGREEMENT_DROP_MAX,
        description="largest drop of a label's gold agreement from the last published release's; more blocks",
    )
    gold_min_turns: int = Field(
        default=DEFAULT_GOLD_MIN_TURNS,
        description="gold+annotator audit turns a label needs for its gold to be judged (else: not judged)",
    )
    coverage_floor: float = Field(
        default=0.5,
        description="least share of the day's turns released per label; a label under it is withheld",
    )
    required_labels: list[str] = Field(
        default=list(DEFAULT_REQUIRED),
        description="labels without which the day is not published (a withheld one blocks the day)",
    )
    drift_max: float = Field(
        default=0.2, description="largest TVD of a label's distribution vs the previous release"
    )
    drift_blocking: bool = Field(default=False, description="drift over drift_max blocks (else it warns)")
    audit_min_turns: int = Field(
        default=100, description="gold holdout turns the day needs to be its own audit set"
    )
    audit_window_days: int = Field(default=7, description="trailing days pooled when the day has too few")
    min_support: int = Field(default=10, description="least audit turns at or over a chosen threshold")
    cross_fit: bool = Field(
        default=True,
        description="choose each threshold on half A of the audit sessions and also report its precision on "
        "half B (split by a hash of the session id); false: choose and measure on the whole audit set",
    )


def _check_config(config: ReleaseConfig) -> float | None:
    problems = []
    try:
        target = parse_target(config.precision_target)
    except ValueError as err:
        target, problems = None, [str(err)]
    for name in (
        "coverage_floor",
        "drift_max",
        "precision_floor",
        "gold_agreement_floor",
        "gold_agreement_drop_max",
    ):
        if not 0.0 <= getattr(config, name) <= 1.0:
            problems.append(f"{name} must be in [0, 1], got {getattr(config, name)}")
    unknown = [label for label in config.required_labels if label not in LABELS]
    if unknown:
        problems.append(f"required_labels must be among {', '.join(LABELS)}, got {', '.join(unknown)}")
    unknown = [label for label in config.precision_floors if label not in LABELS]
    if unknown:
        problems.append(
            f"precision_floors must name labels among {', '.join(LABELS)}, got {', '.join(unknown)}"
        )
    problems += [
        f"precision_floors.{label} must be in [0, 1], got {value}"
        for label, value in config.precision_floors.items()
        if not 0.0 <= value <= 1.0
    ]
    for name in ("audit_min_turns", "audit_window_days", "min_support", "gold_min_turns"):
        if getattr(config, name) < 1:
            problems.append(f"{name} must be at least 1, got {getattr(config, name)}")
    if problems:
        raise dg.Failure(description="invalid label_release config: " + "; ".join(problems))
    return target


@dg.asset(
    deps=["turn_labels", "failure_points"],
    partitions_def=daily_partitions,
    **stage("releases"),
    kinds={"duckdb", "polars"},
    metadata=table_definition("releases.label_release"),
    pool="duckdb",
)
def label_release(
    context: dg.AssetExecutionContext,
    config: ReleaseConfig,
    duckdb: DuckDBResource,
    selflearn: SelflearnConfig,
) -> dg.MaterializeResult:
    """The candidate label release of the day, one row per clean turn (`releases.label_release`): goal id,
    goal start, goal success, intent, slots and failure point, each released only where its confidence reaches
    the label's threshold (else NULL), with the confidences and model versions. Per label, the threshold is
    the lowest confidence at which precision against gold on the audit holdout reaches the target (at least
    the label's precision floor); a label with no such threshold, or whose threshold releases under
    `coverage_floor` of the day, is withheld (NULL on every turn). `releases.release_quality` holds what was
    measured, each label's status (released | withheld, with the reason) and the gold check's agreement of the
    audit gold with the single annotator (and the last published release's); `releases.release_builds` how the
    release was built."""
    day = date.fromisoformat(context.partition_key)
    target = _check_config(config)
    with readable_day(duckdb, day) as con:  # the audit window leaves blocked days out
        run_sql(con, "labels/schema.sql")
        day_labels = load_day(con, day)
        if day_labels.height == 0:
            raise dg.Failure(description=f"no clean turns on {day}; materialize clean_turns first")
        missing = missing_counts(day_labels)
        for column, asset in (
            ("turns_without_labels", "turn_labels"),
            ("turns_without_failure_point", "failure_points"),
        ):
            if missing[column] == day_labels.height:
                raise dg.Failure(
                    description=f"no {asset} rows for {day}; materialize {asset} for {day} first"
                )
        try:
            audit = load_audit_set(con, day, config.audit_min_turns, config.audit_window_days)
        except AuditSetError as err:
            raise dg.Failure(description=f"label release {day} cannot be measured: {err}") from err
    if audit.turns < config.audit_min_turns:
        context.log.warning(
            f"audit set of {audit.turns} gold holdout turns ({audit.source}: {audit.days}) is under "
            f"audit_min_turns={config.audit_min_turns}; thresholds and precision are uncertain"
        )
    measure = measure_label_cross_fit if config.cross_fit else measure_label
    floors = precision_floors(config.precision_floor, config.precision_floors)
    qualities = [measure(audit.frame, label, target, config.min_support, floors[label]) for label in LABELS]
    release, qualities = gate_labels(day_labels, qualities, config.coverage_floor)
    for q in qualities:
        if q.status == WITHHELD:
            context.log.warning(f"{q.label} withheld for {day}: {q.reason}")
    previous_folder, previous = latest_release(selflearn.exports_root, before=day), None
    if previous_folder is not None:
        try:
            previous = read_release(previous_folder)[0]
        except ReleaseError as err:
            context.log.warning(f"previous release unreadable, drift not measured: {err}")
    drift = release_drift(release, previous)
    against = date.fromisoformat(previous_folder.name[5:]) if previous is not None else None
    qualities = [replace(q, drift=drift[q.label], drift_against=against) for q in qualities]
    published = published_manifests(selflearn.exports_root, day, GOLD_LOOKBACK)
    qualities = with_gold_agreement(qualities, audit.frame, published, config.gold_min_turns)
    quality = quality_frame(qualities)
    build = {
        "params": config.model_dump(),
        "audit_source": audit.source,
        "audit_days": audit.days,
        "audit_turns": audit.turns,
        "clean_turns": day_labels.height,
        **missing,
        "previous_release": str(previous_folder) if previous is not None else None,
    }
    with duckdb.get_connection() as con:
        write_release_day(con, day, release, quality, build)
    return dg.MaterializeResult(
        metadata={
            **day_metadata(duckdb, "releases.label_release", context.partition_key, PREVIEW),
            "quality": dg.MetadataValue.md(quality_table(quality)),
            "targets": dg.MetadataValue.md(targets_table(quality)),
            "throughput": dg.MetadataValue.md(throughput_table(quality)),
            "thresholds": dg.MetadataValue.json(rounded({q.label: q.threshold for q in qualities})),
            "withheld": dg.MetadataValue.json(withheld_labels(quality)),
            "precision_floors": dg.MetadataValue.json(floors),
            "gold_check": dg.MetadataValue.json(
                rounded(gold_section(quality, *gold_params(config.model_dump()))["labels"])
            ),
            "audit_set": f"{audit.turns:,} gold holdout turns, {audit.source}: {', '.join(map(str, audit.days))}",
            "failure_point_pct_of_human": _pct(qualities[LABELS.index("failure_point")].pct_of_human),
            "released_turns": dg.MetadataValue.json(
                {label: int(release[label].is_not_null().sum()) for label in LABELS}
            ),
            "previous_release": (
                home_relative(previous_folder, selflearn.home) if previous is not None else "none"
            ),
        }
    )


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


@dg.asset(
    deps=["label_release"],
    partitions_def=daily_partitions,
    **stage("releases"),
    kinds={"parquet"},
)
def label_release_export(
    context: dg.AssetExecutionContext,
    duckdb: DuckDBResource,
    selflearn: SelflearnConfig,
    mlflow: MLflowResource,
) -> dg.MaterializeResult:
    """`exports/labels/date=D/`: labels.parquet, manifest.json (model versions, thresholds, precision floors,
    withheld labels and why, quality on the audit set, the gold check, gates passed, row counts, sha256) and
    DATACARD.md, published atomically and only when every blocking gate passes (they are re-evaluated here); otherwise the previous release stays and
    the run says why."""
    day = date.fromisoformat(context.partition_key)
    with readable_day(duckdb, day) as con:
        build = build_of_day(con, day)
        if build is None:
            raise dg.Failure(description=f"no label release built for {day}; materialize label_release first")
        release, quality, counts = (
            release_of_day(con, day),
            quality_of_day(con, day),
            accounting_counts(con, day),
        )
    gates = all_gates(release, counts, quality, build["params"])
    thresholds, quality_section = quality_sections(quality)
    manifest = {
        "precision_floors": {label: quality_section[label]["precision_floor"] for label in LABELS},
        "gold": gold_section(quality, *gold_params(build["params"])),
        "models": model_versions(release, mlflow.home),
        "thresholds": thresholds,
        "withheld": withheld_labels(quality),
        "required_labels": build["params"].get("required_labels", list(DEFAULT_REQUIRED)),
        "quality": quality_section,
        "audit": {
            "source": build["audit_source"],
            "days": [d.isoformat() for d in build["audit_days"]],
            "turns": build["audit_turns"],
            "holdout": "gold-annotated turns of audit-holdout sessions (lib/models/audit.py)",
        },
        "drift_against": build["previous_release"],
        "params": build["params"],
        "dagster_run_id": context.run_id,
        "asset": "label_release_export",
    }
    try:
        folder = publish_release(selflearn.exports_root, day, release, manifest, gates)
    except ReleaseRefused as err:
        raise dg.Failure(
            description=str(err),
            metadata={
                "failed_gates": dg.MetadataValue.json(err.reasons),
                "kept": home_relative(err.previous, selflearn.home) if err.previous else "none",
            },
        ) from err
    return dg.MaterializeResult(
        metadata={
            "path": home_relative(folder, selflearn.home),
            "absolute_path": dg.MetadataValue.path(str(folder)),
            "dagster/row_count": release.height,
            "checks_passed": dg.MetadataValue.json([g.name for g in gates if g.passed]),
            "warnings": dg.MetadataValue.json([g.description for g in gates if not g.passed]),
            "thresholds": dg.MetadataValue.json(rounded(thresholds)),
            "withheld": dg.MetadataValue.json(manifest["withheld"]),
        }
    )

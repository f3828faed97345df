"""Releases: the day's labels at human-level precision, gated, and their publication as a versioned export.

Each asset loads its inputs, calls one function of `selflearn_assets/lib/releases/` that does the work, writes
through the lib's store and reports (`report.py`)."""

from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from selflearn_assets.defs.metadata import stage, table_definition
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import readable_day

# checks.py and the UI tests import label_with_status, with_low and the *_table functions from here.
from selflearn_assets.defs.releases.report import (  # noqa: F401
    export_metadata,
    label_with_status,
    quality_table,
    refused_metadata,
    release_metadata,
    targets_table,
    throughput_table,
    with_low,
)
from selflearn_assets.defs.resources import MLflowResource, SelflearnConfig
from selflearn_assets.lib.releases import ReleaseRefused
from selflearn_assets.lib.releases.candidate import build_candidate
from selflearn_assets.lib.releases.export import export_release
from selflearn_assets.lib.releases.gold import (
    DEFAULT_GOLD_AGREEMENT_DROP_MAX,
    DEFAULT_GOLD_AGREEMENT_FLOOR,
    DEFAULT_GOLD_MIN_TURNS,
)
from selflearn_assets.lib.releases.inputs import ReleaseInputError, load_published_before, load_release_inputs
from selflearn_assets.lib.releases.params import param_problems
from selflearn_assets.lib.releases.store import stored_release, write_release_day
from selflearn_assets.lib.releases.thresholds import DEFAULT_PRECISION_FLOOR
from selflearn_assets.lib.releases.withhold import DEFAULT_REQUIRED


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


@dg.asset(
    deps=["turn_labels", "failure_points"],
    partitions_def=daily_partitions,
    **stage("releases"),
    kinds={"duckdb", "polars"},
    metadata=table_definition("releases.label_release", "releases.release_quality", "releases.release_builds"),
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
    params = config.model_dump()
    problems = param_problems(params)
    if problems:
        raise dg.Failure(description="invalid label_release config: " + "; ".join(problems))
    with readable_day(duckdb, day) as con:  # the audit window leaves blocked days out
        try:
            inputs = load_release_inputs(con, day, config.audit_min_turns, config.audit_window_days)
        except ReleaseInputError as err:
            raise dg.Failure(description=str(err)) from err
    published = load_published_before(selflearn.exports_root, day)
    if published.error:
        context.log.warning(f"previous release unreadable, drift not measured: {published.error}")
    candidate = build_candidate(inputs, published, params)
    for warning in candidate.warnings:
        context.log.warning(warning)
    with duckdb.get_connection() as con:
        write_release_day(con, day, candidate.release, candidate.quality, candidate.build)
    return dg.MaterializeResult(
        metadata=release_metadata(duckdb, context.partition_key, inputs, published, candidate, selflearn.home)
    )


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
        stored = stored_release(con, day)
    if stored is None:
        raise dg.Failure(description=f"no label release built for {day}; materialize label_release first")
    provenance = {"dagster_run_id": context.run_id, "asset": "label_release_export"}
    try:
        exported = export_release(selflearn.exports_root, day, stored, mlflow.home, provenance)
    except ReleaseRefused as err:
        raise dg.Failure(description=str(err), metadata=refused_metadata(err, selflearn.home)) from err
    return dg.MaterializeResult(metadata=export_metadata(exported, stored.release.height, selflearn.home))

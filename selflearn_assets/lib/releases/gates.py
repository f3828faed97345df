"""The gates a label release must pass before it is published, as Great Expectations suites.

A label that fails its own gate is withheld for the day (`withhold.py`: null on every turn) and the others are
published; the per-label gates check the released labels and name the withheld ones. The day is blocked
(nothing published, the previous release stays) only when the release itself is unusable.

| gate | blocks | what it checks |
|---|---|---|
| label_release_schema | yes | columns, unique non-null ids, confidences in 0..1, value sets, well-formed slots |
| label_release_accounts_for_every_turn | yes | one row per clean turn of the day, each with its labels and failure point |
| label_release_coverage | yes | per released label, the share of the day's turns released at or above `coverage_floor` |
| label_release_precision | yes | per released label, a threshold whose audit precision reaches the target, and a target at or over the label's precision floor (`precision_floor`, `precision_floors`) |
| label_release_gold | yes | per label, the audit gold's agreement with the single annotator at least `gold_agreement_floor` and at most `gold_agreement_drop_max` under the last published release's; labels with under `gold_min_turns` turns not judged (`gold.py`) |
| label_release_required_labels | yes | no `required_labels` label withheld, not every label withheld, withheld ones null |
| label_release_drift | configurable | per label, TVD to the previous published release at most `drift_max` |

The precision target of a label is the single annotator's precision (or a fixed number) raised to the label's
floor: a label under it is withheld like any other. The gold gate is what catches corrupted gold, which would
lower the annotator's precision together with the model's.

Each gate is plain data (`GateResult`), so the Dagster checks and the publisher judge a release the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import great_expectations as gx
import pandas as pd
import polars as pl

from selflearn_assets.lib.quality.gx_runner import SuiteOutcome, validate_frame
from selflearn_assets.lib.releases.build import RELEASE_COLUMNS
from selflearn_assets.lib.releases.gold import (
    DEFAULT_GOLD_AGREEMENT_DROP_MAX,
    DEFAULT_GOLD_AGREEMENT_FLOOR,
    DEFAULT_GOLD_MIN_TURNS,
    judge_gold,
)
from selflearn_assets.lib.releases.labels import FAILURE_POINTS, LABELS
from selflearn_assets.lib.releases.thresholds import RELEASED, WITHHELD
from selflearn_assets.lib.releases.withhold import DEFAULT_REQUIRED, blocking_reasons

E = gx.expectations
SCHEMA, ACCOUNTING, COVERAGE, PRECISION, GOLD, REQUIRED, DRIFT = (
    "label_release_schema",
    "label_release_accounts_for_every_turn",
    "label_release_coverage",
    "label_release_precision",
    "label_release_gold",
    "label_release_required_labels",
    "label_release_drift",
)
GATES = (SCHEMA, ACCOUNTING, COVERAGE, PRECISION, GOLD, REQUIRED, DRIFT)
INTENT_PATTERN = r"^(?:[^\s.]+\.\S+|unknown)$"  # "domain.intent"


@dataclass(frozen=True)
class GateResult:
    name: str
    blocking: bool  # a failure keeps the release from being published
    passed: bool
    description: str
    outcome: SuiteOutcome
    metadata: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "gate": self.name,
            "blocking": self.blocking,
            "passed": self.passed,
            "description": self.description,
        }


def blocking_failures(gates: list[GateResult]) -> list[GateResult]:
    return [g for g in gates if g.blocking and not g.passed]


def schema_gate(release: pl.DataFrame) -> GateResult:
    frame = release.drop("slots", strict=False)
    if "slots" in release.columns:
        frame = frame.with_columns(
            n_slots=release["slots"].list.len(),
            slots_well_formed=release["slots"]
            .list.eval(pl.element().struct.field("name").fill_null("").str.len_chars() > 0)
            .list.all(),
        )
    expected = [c for c in RELEASE_COLUMNS if c != "slots"] + ["n_slots", "slots_well_formed"]
    confidences = [f"{label}_confidence" for label in LABELS]
    expectations: list = [E.ExpectTableColumnsToMatchSet(column_set=expected, exact_match=True)]
    expectations += [E.ExpectColumnValuesToNotBeNull(column=c) for c in ("event_id", "session_id")]
    expectations.append(E.ExpectColumnValuesToBeUnique(column="event_id"))
    expectations += [
        E.ExpectColumnValuesToBeBetween(column=c, min_value=0.0, max_value=1.0) for c in confidences
    ]
    expectations.append(E.ExpectColumnValuesToBeBetween(column="goal_id", min_value=1))
    expectations += [
        E.ExpectColumnValuesToBeInSet(column=c, value_set=[True, False])
        for c in ("goal_start", "goal_success")
    ]
    expectations.append(E.ExpectColumnValuesToBeInSet(column="failure_point", value_set=list(FAILURE_POINTS)))
    expectations.append(E.ExpectColumnValuesToMatchRegex(column="intent", regex=INTENT_PATTERN))
    expectations.append(E.ExpectColumnValuesToBeInSet(column="slots_well_formed", value_set=[True]))
    outcome = validate_frame(frame.to_pandas(), SCHEMA, expectations)
    return GateResult(
        SCHEMA,
        True,
        outcome.success,
        _failed(outcome, "schema and value sets hold"),
        outcome,
        {"rows": release.height},
    )


def accounting_gate(counts: dict[str, int]) -> GateResult:
    """`counts`: clean_turns, release_rows, distinct_event_ids, turns_missing, rows_without_turn,
    turns_without_labels, turns_without_failure_point (see `dbt_like_sql/releases/accounting.sql`)."""
    frame = pd.DataFrame({k: [int(v)] for k, v in counts.items()})
    zero = ("turns_missing", "rows_without_turn", "turns_without_labels", "turns_without_failure_point")
    outcome = validate_frame(
        frame,
        ACCOUNTING,
        [
            E.ExpectColumnPairValuesToBeEqual(column_A="clean_turns", column_B="release_rows"),
            E.ExpectColumnPairValuesToBeEqual(column_A="release_rows", column_B="distinct_event_ids"),
            *[E.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=0) for c in zero],
        ],
    )
    if outcome.success:
        description = (
            f"all {counts['clean_turns']} turns of the day released once, with labels and failure point"
        )
    else:
        problems = [f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if k in zero and v]
        if counts["release_rows"] != counts["distinct_event_ids"]:
            problems.append(f"{counts['release_rows'] - counts['distinct_event_ids']} duplicated turns")
        problems.append(f"{counts['release_rows']} rows for {counts['clean_turns']} clean turns")
        description = "turns not accounted for: " + ", ".join(problems)
    return GateResult(ACCOUNTING, True, outcome.success, description, outcome, dict(counts))


def withheld_labels(quality: pl.DataFrame) -> dict[str, str]:
    """{label: reason} of the labels withheld for the day, in `LABELS` order."""
    rows = {r["label"]: r for r in quality.iter_rows(named=True) if r["status"] == WITHHELD}
    return {label: rows[label]["reason"] or "withheld" for label in LABELS if label in rows}


def _withheld_note(quality: pl.DataFrame) -> str:
    withheld = withheld_labels(quality)
    return "; withheld: " + "; ".join(f"{k} ({v})" for k, v in withheld.items()) if withheld else ""


def coverage_gate(quality: pl.DataFrame, floor: float) -> GateResult:
    """Every released label covers at least `floor` of the day's turns; withheld labels are named, not failed."""
    released = quality.filter(pl.col("status") == RELEASED)
    outcome = validate_frame(
        quality.select("label", "status", "coverage_day")
        .with_columns(released_coverage=pl.when(pl.col("status") == RELEASED).then(pl.col("coverage_day")))
        .to_pandas(),
        COVERAGE,
        [
            E.ExpectColumnDistinctValuesToEqualSet(column="label", value_set=list(LABELS)),
            E.ExpectColumnValuesToBeInSet(column="status", value_set=[RELEASED, WITHHELD]),
            E.ExpectColumnValuesToBeBetween(column="released_coverage", min_value=floor, max_value=1.0),
        ],
    )
    low = released.filter(pl.col("coverage_day") < floor)
    description = (
        f"every released label covers at least {floor:.0%} of the day's turns" + _withheld_note(quality)
        if outcome.success
        else f"released with coverage under the floor {floor:.0%}: "
        + ", ".join(f"{r['label']} {r['coverage_day']:.1%}" for r in low.iter_rows(named=True))
    )
    return GateResult(
        COVERAGE,
        True,
        outcome.success,
        _or_gx(description, outcome, low.height),
        outcome,
        {"coverage_floor": floor, "withheld": withheld_labels(quality)},
    )


def precision_gate(quality: pl.DataFrame) -> GateResult:
    """Every released label reaches its precision target on the audit set, and the target is not under the
    label's precision floor; withheld labels are named."""
    released = pl.col("status") == RELEASED
    frame = quality.select(
        "label",
        "status",
        *[
            pl.when(released).then(pl.col(c)).otherwise(0.0).alias(c)
            for c in ("threshold", "target", "precision")
        ],
        precision_margin=pl.when(released).then(pl.col("precision") - pl.col("target")),
        floor_margin=pl.when(released).then(pl.col("target") - pl.col("precision_floor")),
    ).to_pandas()
    outcome = validate_frame(
        frame,
        PRECISION,
        [
            E.ExpectColumnDistinctValuesToEqualSet(column="label", value_set=list(LABELS)),
            *[E.ExpectColumnValuesToNotBeNull(column=c) for c in ("target", "threshold", "precision")],
            E.ExpectColumnValuesToBeBetween(column="precision_margin", min_value=0.0),
            E.ExpectColumnValuesToBeBetween(column="floor_margin", min_value=0.0),  # null: no floor recorded
        ],
    )
    problems = []
    for r in quality.filter(released).iter_rows(named=True):
        if r["target"] is None:
            problems.append(f"{r['label']}: released without a precision target")
        elif r["precision_floor"] is not None and r["target"] < r["precision_floor"]:
            problems.append(
                f"{r['label']}: target {r['target']:.3f} under its precision floor {r['precision_floor']:.3f}"
            )
        elif r["threshold"] is None or r["precision"] is None:
            problems.append(f"{r['label']}: released without a threshold reaching {r['target']:.3f}")
        elif r["precision"] < r["target"]:
            problems.append(f"{r['label']}: precision {r['precision']:.3f} < target {r['target']:.3f}")
    description = (
        "every released label reaches its precision target on the audit set" + _withheld_note(quality)
        if outcome.success
        else "; ".join(problems)
    )
    floors = {r["label"]: r["precision_floor"] for r in quality.iter_rows(named=True)}
    return GateResult(
        PRECISION,
        True,
        outcome.success,
        _or_gx(description, outcome, len(problems)),
        outcome,
        {"withheld": withheld_labels(quality), "precision_floors": floors},
    )


def gold_gate(
    quality: pl.DataFrame,
    floor: float = DEFAULT_GOLD_AGREEMENT_FLOOR,
    drop_max: float = DEFAULT_GOLD_AGREEMENT_DROP_MAX,
    min_turns: int = DEFAULT_GOLD_MIN_TURNS,
) -> GateResult:
    """The gold the release is measured on still agrees with the single annotator: per judged label at least
    `floor`, and at most `drop_max` under the last published release's agreement (see `gold.py`). Labels with
    under `min_turns` gold+annotator turns are named as not judged. A failure blocks the day."""
    verdicts = judge_gold(quality, floor, drop_max, min_turns)
    frame = pd.DataFrame(
        {
            "label": [v.label for v in verdicts],
            "gold_turns": [v.turns for v in verdicts],
            "judged_agreement": [v.agreement if v.judged else float("nan") for v in verdicts],
            "agreement_drop": [float("nan") if v.drop is None else v.drop for v in verdicts],
        }
    )
    outcome = validate_frame(
        frame,
        GOLD,
        [
            E.ExpectColumnDistinctValuesToEqualSet(column="label", value_set=list(LABELS)),
            E.ExpectColumnValuesToBeBetween(column="judged_agreement", min_value=floor, max_value=1.0),
            E.ExpectColumnValuesToBeBetween(column="agreement_drop", min_value=-1.0, max_value=drop_max),
        ],
    )
    problems = [v.problem for v in verdicts if v.problem]
    judged = [v for v in verdicts if v.judged]
    not_judged = [f"{v.label} ({v.turns})" for v in verdicts if not v.judged]
    note = f"; not judged (under {min_turns} gold+annotator turns): {', '.join(not_judged)}"
    if problems:
        description = "day blocked: the audit gold disagrees with the single annotator: "
        description += "; ".join(problems)
    elif judged:
        measured = [
            f"{v.label} {v.agreement:.3f}" + ("" if v.previous is None else f" (was {v.previous:.3f})")
            for v in judged
        ]
        description = (
            f"the audit gold agrees with the single annotator (at least {floor:.2f}, a drop of at most "
            f"{drop_max:.2f}): {', '.join(measured)}{note if not_judged else ''}"
        )
    else:
        description = f"gold not judged, under {min_turns} gold+annotator turns: {', '.join(not_judged)}"
    return GateResult(
        GOLD,
        True,
        outcome.success,
        _or_gx(description, outcome, len(problems)),
        outcome,
        {
            "gold_agreement_floor": floor,
            "gold_agreement_drop_max": drop_max,
            "gold_min_turns": min_turns,
            "verdicts": {v.label: v.verdict for v in verdicts},
            "agreement": {v.label: v.agreement for v in verdicts},
        },
    )


def required_labels_gate(
    release: pl.DataFrame, quality: pl.DataFrame, required: list[str] | tuple[str, ...] = DEFAULT_REQUIRED
) -> GateResult:
    """The day is publishable: no required label withheld, at least one label released, and each withheld
    label null on every turn of the release. The description says why when the day is blocked."""
    withheld = withheld_labels(quality)
    frame = pd.DataFrame(
        {
            "label": list(LABELS),
            "status": [WITHHELD if label in withheld else RELEASED for label in LABELS],
            "required_withheld": [label in withheld and label in required for label in LABELS],
            "withheld_values": [
                int(release[label].is_not_null().sum())
                if label in withheld and label in release.columns
                else 0
                for label in LABELS
            ],
        }
    )
    outcome = validate_frame(
        frame,
        REQUIRED,
        [
            E.ExpectColumnValuesToBeInSet(column="required_withheld", value_set=[False]),
            E.ExpectColumnDistinctValuesToContainSet(column="status", value_set=[RELEASED]),
            E.ExpectColumnValuesToBeBetween(column="withheld_values", min_value=0, max_value=0),
        ],
    )
    reasons = blocking_reasons(withheld, required)
    reasons += [
        f"withheld label {r['label']} has {r['withheld_values']} values in the release"
        for r in frame.to_dict("records")
        if r["withheld_values"]
    ]
    released = [label for label in LABELS if label not in withheld]
    required_note = f"required {', '.join(required)} released" if required else "no label required"
    description = (
        "day blocked: " + "; ".join(reasons)
        if reasons
        else f"released: {', '.join(released)}; {required_note}" + _withheld_note(quality)
    )
    return GateResult(
        REQUIRED,
        True,
        outcome.success,
        _or_gx(description, outcome, len(reasons)),
        outcome,
        {"required_labels": list(required), "withheld": withheld, "released": released},
    )


def drift_gate(quality: pl.DataFrame, drift_max: float, blocking: bool) -> GateResult:
    frame = quality.select("label", "drift").to_pandas()
    outcome = validate_frame(
        frame, DRIFT, [E.ExpectColumnValuesToBeBetween(column="drift", min_value=0.0, max_value=drift_max)]
    )
    against = quality["drift_against"].drop_nulls()
    high = quality.filter(pl.col("drift") > drift_max)
    if against.is_empty():
        description = "no previous release to compare with"
    elif outcome.success:
        description = f"every label within TVD {drift_max} of the release of {against[0]}"
    else:
        description = f"drift over {drift_max} against the release of {against[0]}: " + ", ".join(
            f"{r['label']} {r['drift']:.3f}" for r in high.iter_rows(named=True)
        )
    return GateResult(
        DRIFT,
        blocking,
        outcome.success,
        _or_gx(description, outcome, high.height),
        outcome,
        {"drift_max": drift_max, "drift_blocking": blocking},
    )


def all_gates(
    release: pl.DataFrame, counts: dict[str, int], quality: pl.DataFrame, params: dict
) -> list[GateResult]:
    """Every gate, with the thresholds of the release's run config (`coverage_floor`, `required_labels`,
    `gold_agreement_floor`, `gold_agreement_drop_max`, `gold_min_turns`, `drift_max`, `drift_blocking`)."""
    return [
        schema_gate(release),
        accounting_gate(counts),
        coverage_gate(quality, params["coverage_floor"]),
        precision_gate(quality),
        gold_gate(quality, *gold_params(params)),
        required_labels_gate(release, quality, params.get("required_labels", DEFAULT_REQUIRED)),
        drift_gate(quality, params["drift_max"], params["drift_blocking"]),
    ]


def gold_params(params: dict) -> tuple[float, float, int]:
    """(floor, drop_max, min_turns) of the gold check from a release's run config (the defaults for a release
    built before the check existed)."""
    return (
        params.get("gold_agreement_floor", DEFAULT_GOLD_AGREEMENT_FLOOR),
        params.get("gold_agreement_drop_max", DEFAULT_GOLD_AGREEMENT_DROP_MAX),
        params.get("gold_min_turns", DEFAULT_GOLD_MIN_TURNS),
    )


def _failed(outcome: SuiteOutcome, ok: str) -> str:
    if outcome.success:
        return ok
    return "failed: " + "; ".join(
        f"{f.expectation}({f.column or ''})"
        + (f" {f.unexpected_count} unexpected" if f.unexpected_count else "")
        for f in outcome.failures
    )


def _or_gx(description: str, outcome: SuiteOutcome, explained: int) -> str:
    """Our own description, or GX's list of failures when the suite failed for a reason we did not explain."""
    return description if outcome.success or explained else _failed(outcome, description)

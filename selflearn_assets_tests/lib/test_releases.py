"""Label releases without Dagster: thresholds on a hand-made audit set, drift, gates, atomic publication."""

import json
from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from selflearn_assets.lib.models.audit import is_holdout
from selflearn_assets.lib.models.label_data import SLOTS_TYPE
from selflearn_assets.lib.quality.gx_runner import SuiteOutcome
from selflearn_assets.lib.releases import (
    ReleaseError,
    ReleaseRefused,
    latest_release,
    publish_release,
    read_release,
    release_folder,
)
from selflearn_assets.lib.releases.build import RELEASE_COLUMNS, coverage, release_frame
from selflearn_assets.lib.releases.drift import distribution, release_drift, total_variation
from selflearn_assets.lib.releases.gates import (
    GATES,
    GateResult,
    accounting_gate,
    all_gates,
    coverage_gate,
    drift_gate,
    gold_gate,
    gold_params,
    precision_gate,
    required_labels_gate,
    schema_gate,
    withheld_labels,
)
from selflearn_assets.lib.releases.gold import (
    GoldAgreement,
    gold_agreement,
    gold_section,
    previous_agreements,
    turn_agreement,
)
from selflearn_assets.lib.releases.labels import LABELS, same_label
from selflearn_assets.lib.releases.publish import published_manifests, quality_sections
from selflearn_assets.lib.releases.store import quality_frame
from selflearn_assets.lib.releases.thresholds import (
    LabelQuality,
    audit_half,
    choose_threshold,
    effective_target,
    measure_label,
    measure_label_cross_fit,
    parse_target,
    precision_floors,
    wilson_low,
)
from selflearn_assets.lib.releases.withhold import blocking_reasons, gate_labels, withhold_reason

# Ten audit turns, most confident first. Cumulative precision at each confidence, worked out by hand:
# 0.95: 1/1, 0.90: 2/2, 0.85: 3/3, 0.80: 3/4 = .75, 0.70: 4/5 = .80, 0.60: 5/6 = .833,
# 0.55: 5/7 = .714, 0.50: 6/8 = .75, 0.40: 6/9 = .667, 0.30: 6/10 = .60
CONFIDENCE = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3]
CORRECT = [True, True, True, False, True, True, False, True, False, False]


@pytest.mark.parametrize(
    ("target", "min_support", "threshold", "precision", "released"),
    [
        (
            0.8,
            1,
            0.6,
            5 / 6,
            6,
        ),  # .80 is reached at 0.70 and again, lower, at 0.60 (precision is not monotone)
        (0.75, 1, 0.5, 0.75, 8),  # 0.50: 6/8 = .75 exactly
        (0.85, 1, 0.85, 1.0, 3),  # .833 at 0.60 falls short: back to 0.85
        (1.0, 1, 0.85, 1.0, 3),
        (0.6, 1, 0.3, 0.6, 10),  # everything
        (0.8, 7, None, None, 0),  # with 7 or more turns released, precision never reaches .80
    ],
)
def test_threshold_is_the_lowest_confidence_reaching_the_target(
    target, min_support, threshold, precision, released
):
    choice = choose_threshold(CONFIDENCE[::-1], CORRECT[::-1], target, min_support)  # order does not matter
    assert choice.threshold == threshold
    if precision is None:
        assert choice.precision is None
    else:
        assert choice.precision == pytest.approx(precision)
    assert choice.released == released and choice.total == 10
    assert choice.coverage == pytest.approx(released / 10)


def test_tied_confidences_are_released_together():
    # at 0.9 the two tied turns give 1/2; a threshold cannot take only the right one
    assert choose_threshold([0.9, 0.9, 0.8], [True, False, True], 0.6).threshold == 0.8
    assert choose_threshold([0.9, 0.9, 0.8], [True, False, True], 0.7).threshold is None
    assert choose_threshold([], [], 0.5).threshold is None


def _audit(label: str = "intent") -> pl.DataFrame:
    # the single annotator is right on 8 of the 10 turns: target .80
    annotator = [True, True, False, True, True, True, True, False, True, True]
    return pl.DataFrame(
        {
            f"{label}_confidence": CONFIDENCE,
            f"{label}_correct": CORRECT,
            f"ann_{label}_correct": annotator,
        }
    )


def test_annotator_target_sets_the_threshold():
    q = measure_label(_audit(), "intent", target=None)
    assert q.target == pytest.approx(0.8) and q.target_source == "annotator"
    assert q.annotator_precision == pytest.approx(0.8) and q.annotator_turns == 10
    assert q.threshold == 0.6 and q.precision == pytest.approx(5 / 6)
    assert q.audit_released == 6 and q.coverage_audit == pytest.approx(0.6)
    assert q.model_accuracy == pytest.approx(0.6) and q.pct_of_human == pytest.approx(0.75)
    assert q.precision_low == pytest.approx(wilson_low(5, 6))
    fixed = measure_label(_audit(), "intent", target=0.85)
    assert fixed.threshold == 0.85 and fixed.target_source == "fixed"


def test_turns_without_gold_or_prediction_are_left_out():
    audit = _audit().vstack(
        pl.DataFrame(
            {
                "intent_confidence": [0.99, None],
                "intent_correct": [None, True],
                "ann_intent_correct": [True, None],
            },
            schema=_audit().schema,
        )
    )
    q = measure_label(audit, "intent", target=None)
    assert q.audit_turns == 10 and q.threshold == 0.6


def test_parse_target():
    assert parse_target("annotator") is None and parse_target(" Annotator ") is None
    assert parse_target("0.9") == 0.9 and parse_target(0.85) == 0.85
    for bad in ("human", "0", "1.5", ""):
        with pytest.raises(ValueError, match="precision_target"):
            parse_target(bad)


def test_label_agreement():
    a = [{"name": "city", "value": "Paris"}, {"name": "day", "value": "monday"}]
    b = [{"name": "day", "value": "Monday"}, {"name": "city", "value": "paris"}]
    assert same_label("slots", a, b) and not same_label("slots", a, b[:1])
    assert same_label("slots", [], []) and same_label("goal_start", False, False)
    assert same_label("intent", "music.play", None) is None


def _day_labels() -> pl.DataFrame:
    slots = [[{"name": "artist", "value": "abba"}], [], None, [{"name": "city", "value": "rome"}]]
    return pl.DataFrame(
        {
            "event_id": ["e1", "e2", "e3", "e4"],
            "session_id": ["s1", "s1", "s2", "s2"],
            "goal_id": [1, 1, 1, 2],
            "goal_start": [True, False, True, True],
            "goal_start_confidence": [1.0, 0.7, 1.0, 0.55],
            "goal_success": [True, True, False, True],
            "goal_success_confidence": [0.9, 0.9, 0.6, 0.8],
            "intent": ["music.play", "music.play", "weather.get", "weather.get"],
            "intent_confidence": [0.95, 0.5, 0.8, 0.99],
            "slots": pl.Series(slots, dtype=SLOTS_TYPE),
            "slots_confidence": [0.9, 0.9, 0.2, 0.4],
            "failure_point": ["correct", "nlu", "asr", "correct"],
            "failure_point_confidence": [0.9, 0.6, 0.7, 0.95],
            "label_model_version": ["3"] * 4,
            "failure_point_model_version": ["1"] * 4,
        }
    )


THRESHOLDS = {"goal_start": 0.6, "goal_success": 0.7, "intent": 0.8, "slots": 0.5, "failure_point": None}


def test_release_frame_withholds_labels_under_their_threshold():
    release = release_frame(_day_labels(), THRESHOLDS)
    assert release.columns == RELEASE_COLUMNS
    assert release["goal_start"].to_list() == [True, False, True, None]
    assert release["intent"].to_list() == ["music.play", None, "weather.get", "weather.get"]
    assert release["slots"].to_list() == [[{"name": "artist", "value": "abba"}], [], None, None]
    assert release["failure_point"].null_count() == 4  # no threshold: nothing released
    assert release["intent_confidence"].to_list() == _day_labels()["intent_confidence"].to_list()
    assert coverage(release, "goal_success") == 0.75 and coverage(release, "failure_point") == 0.0


def test_drift_is_the_total_variation_distance():
    previous = pl.DataFrame({"intent": ["a", "a", "b", "b"], "goal_start": [True, True, False, None]})
    current = pl.DataFrame({"intent": ["a", "a", "a", "b"], "goal_start": [True, False, None, None]})
    assert distribution(previous, "goal_start") == pytest.approx({"true": 2 / 3, "false": 1 / 3})
    assert total_variation(
        distribution(current, "intent"), distribution(previous, "intent")
    ) == pytest.approx(0.25)
    assert total_variation({"a": 1.0}, {"b": 1.0}) == 1.0
    drift = release_drift(current, previous)
    assert drift["intent"] == pytest.approx(0.25)
    assert drift["goal_start"] == pytest.approx(0.5 * (abs(0.5 - 2 / 3) + abs(0.5 - 1 / 3)))
    assert drift["slots"] is None  # neither has slots
    assert release_drift(current, None)["intent"] is None


def test_slot_distribution_counts_slot_names_and_empty_turns():
    frame = pl.DataFrame(
        {
            "slots": pl.Series(
                [[{"name": "city", "value": "x"}, {"name": "day", "value": "y"}], [], None], dtype=SLOTS_TYPE
            )
        }
    )
    assert distribution(frame, "slots") == pytest.approx({"city": 1 / 3, "day": 1 / 3, "(no slots)": 1 / 3})


def _quality(**changes) -> pl.DataFrame:
    return quality_frame(_qualities(**changes))


def _qualities(**changes) -> list[LabelQuality]:
    rows = []
    for label in LABELS:
        q = LabelQuality(
            label=label,
            threshold=0.6,
            target=0.8,
            target_source="annotator",
            annotator_precision=0.8,
            annotator_turns=10,
            precision=5 / 6,
            precision_low=wilson_low(5, 6),
            audit_turns=10,
            audit_released=6,
            coverage_audit=0.6,
            model_accuracy=0.6,
            pct_of_human=0.75,
            coverage_day=0.7,
            drift=0.05,
            drift_against=date(2026, 11, 1),
        )
        rows.append(replace(q, **changes.get(label, {})))
    return rows


WITHHELD_SLOTS = {"status": "withheld", "reason": "coverage 30.0% of the day's turns", "coverage_day": 0.3}


def test_quality_gates_say_which_label_fails():
    assert coverage_gate(_quality(), 0.5).passed
    # a released label under the floor is an inconsistent release: it blocks
    low = coverage_gate(_quality(slots={"coverage_day": 0.3}), 0.5)
    assert not low.passed and low.blocking and "slots 30.0%" in low.description
    # the same label withheld passes, named in the description
    withheld = coverage_gate(_quality(slots=WITHHELD_SLOTS), 0.5)
    assert withheld.passed and "withheld: slots (coverage 30.0% of the day's turns)" in withheld.description
    assert precision_gate(_quality()).passed
    bad = precision_gate(_quality(intent={"threshold": None, "precision": None}, slots={"target": None}))
    assert not bad.passed
    assert "intent: released without a threshold reaching 0.800" in bad.description
    assert "slots: released without a precision target" in bad.description
    no_threshold = {"status": "withheld", "reason": "no threshold", "threshold": None, "precision": None}
    named = precision_gate(_quality(intent=no_threshold))
    assert named.passed and "withheld: intent (no threshold)" in named.description
    drifting = _quality(failure_point={"drift": 0.4})
    warn = drift_gate(drifting, 0.2, blocking=False)
    assert not warn.passed and not warn.blocking and "failure_point 0.400" in warn.description
    assert drift_gate(drifting, 0.2, blocking=True).blocking
    first = drift_gate(
        _quality(**{label: {"drift": None, "drift_against": None} for label in LABELS}), 0.2, False
    )
    assert first.passed and "no previous release" in first.description


def test_schema_and_accounting_gates():
    release = release_frame(_day_labels(), THRESHOLDS)
    assert schema_gate(release).passed
    broken = release.with_columns(
        intent_confidence=pl.Series([0.5, 1.5, 0.2, 0.9]),
        failure_point=pl.Series(["correct", "bogus", None, None]),
        slots=pl.Series([[{"name": "", "value": "x"}], [], None, None], dtype=SLOTS_TYPE),
    )
    gate = schema_gate(broken)
    assert not gate.passed
    failed = {(f.expectation, f.column) for f in gate.outcome.failures}
    assert {
        ("expect_column_values_to_be_between", "intent_confidence"),
        ("expect_column_values_to_be_in_set", "failure_point"),
        ("expect_column_values_to_be_in_set", "slots_well_formed"),
    } == failed
    counts = {
        "clean_turns": 4,
        "release_rows": 4,
        "distinct_event_ids": 4,
        "turns_missing": 0,
        "rows_without_turn": 0,
        "turns_without_labels": 0,
        "turns_without_failure_point": 0,
    }
    assert accounting_gate(counts).passed
    missing = accounting_gate({**counts, "turns_without_failure_point": 2})
    assert not missing.passed and "2 turns without failure point" in missing.description


def _gates(failing: str | None = None) -> list[GateResult]:
    return [
        GateResult(
            name,
            True,
            name != failing,
            "fine" if name != failing else "coverage under the floor",
            SuiteOutcome(name, name != failing, []),
        )
        for name in GATES
    ]


def _publish(root, day, failing=None):
    release = release_frame(_day_labels(), THRESHOLDS)
    thresholds, quality = quality_sections(_quality())
    manifest = {
        "models": {
            "label_model": {
                "registered_model": "selflearn-label-model",
                "versions": ["3"],
                "run_ids": {"3": None},
            },
            "failure_point_model": {
                "registered_model": "selflearn-failure-point-model",
                "versions": ["1"],
                "run_ids": {"1": None},
            },
        },
        "thresholds": thresholds,
        "quality": quality,
        "audit": {"source": "day", "days": [day.isoformat()], "turns": 10},
    }
    return release, publish_release(root, day, release, manifest, _gates(failing))


def test_a_passing_release_has_every_file_and_a_consistent_manifest(tmp_path):
    day = date(2026, 11, 2)
    release, folder = _publish(tmp_path, day)
    assert folder == release_folder(tmp_path, day) == tmp_path / "labels" / "date=2026-11-02"
    assert sorted(p.name for p in folder.iterdir()) == ["DATACARD.md", "labels.parquet", "manifest.json"]
    assert [p.name for p in folder.parent.iterdir()] == ["date=2026-11-02"]  # no staging left behind
    table, manifest = read_release(folder)
    assert table.equals(release)
    assert manifest["rows"] == 4 and manifest["date"] == "2026-11-02"
    assert (
        manifest["row_counts"]["intent_released"] == 3
        and manifest["row_counts"]["failure_point_released"] == 0
    )
    assert manifest["thresholds"]["intent"] == 0.6
    assert manifest["quality"]["intent"]["precision"] == pytest.approx(5 / 6)
    assert manifest["quality"]["intent"]["coverage"] == pytest.approx(0.6)
    assert manifest["quality"]["failure_point_pct_of_human"] == pytest.approx(0.75)
    assert manifest["checks"]["passed"] == list(GATES) and manifest["checks"]["warnings"] == []
    assert set(manifest["sha256"]) == {"labels.parquet", "DATACARD.md"}
    card = (folder / "DATACARD.md").read_text()
    assert "# Label release 2026-11-02" in card and "| intent | released | 0.600 | 0.833 |" in card
    assert manifest["withheld"] == {} and "None: every label is released." in card
    assert "Known limits" in card and "selflearn-label-model v3" in card
    assert latest_release(tmp_path) == folder and latest_release(tmp_path, before=day) is None


def test_a_failing_release_is_not_published_and_the_previous_one_stays(tmp_path):
    _, first = _publish(tmp_path, date(2026, 11, 1))
    _, same_day = _publish(tmp_path, date(2026, 11, 2))
    before = {p: p.read_bytes() for p in (*first.iterdir(), *same_day.iterdir())}
    with pytest.raises(ReleaseRefused, match="label_release_coverage: coverage under the floor") as refused:
        _publish(tmp_path, date(2026, 11, 2), failing="label_release_coverage")
    assert refused.value.previous == same_day
    with pytest.raises(ReleaseRefused, match=r"not published \(the release in place stays"):
        _publish(tmp_path, date(2026, 11, 3), failing="label_release_precision")
    assert {p: p.read_bytes() for p in (*first.iterdir(), *same_day.iterdir())} == before
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == ["date=2026-11-01", "date=2026-11-02"]
    assert latest_release(tmp_path) == same_day


def test_a_release_missing_a_gate_is_refused(tmp_path):
    release = release_frame(_day_labels(), THRESHOLDS)
    with pytest.raises(ReleaseRefused, match="label_release_drift: not evaluated"):
        publish_release(tmp_path, date(2026, 11, 2), release, {}, _gates()[:-1])
    assert not (tmp_path / "labels" / "date=2026-11-02").exists()


def test_read_release_verifies_the_checksums(tmp_path):
    _, folder = _publish(tmp_path, date(2026, 11, 2))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "DATACARD.md").write_text("edited\n")
    with pytest.raises(ReleaseError, match="DATACARD.md does not match the sha256"):
        read_release(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(ReleaseError, match="missing manifest.json"):
        read_release(folder)
    assert manifest["kind"] == "label_release"


# With every threshold at 0.6, the turns of `_day_labels` at or over it, by hand: goal_start 3/4, goal_success
# 4/4, intent 3/4, slots 2/4 (0.9, 0.9), failure_point 4/4. Under a coverage floor of 0.6 slots is withheld.
FLOOR = 0.6
NO_THRESHOLD = {"threshold": None, "precision": None, "precision_low": None}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({"target": None}, "no single-annotator labels on the audit set"),
        (NO_THRESHOLD, "no threshold reaches precision 0.800 on 10 audit turns"),
        ({"precision": 0.75}, "precision 0.750 < target 0.800"),
        ({"coverage_day": 0.5}, "coverage 50.0% of the day's turns at threshold 0.600, under the floor 60%"),
    ],
)
def test_withhold_reason(changes, reason):
    q = replace(_qualities()[0], **changes)
    got = withhold_reason(q, FLOOR)
    assert got is None if reason is None else reason in got


def test_a_label_under_the_floor_is_withheld_on_every_turn_and_the_others_released():
    release, qualities = gate_labels(_day_labels(), _qualities(), FLOOR)
    by_label = {q.label: q for q in qualities}
    assert {q.label: q.coverage_day for q in qualities} == {
        "goal_start": 0.75,
        "goal_success": 1.0,
        "intent": 0.75,
        "slots": 0.5,
        "failure_point": 1.0,
    }
    assert [q.label for q in qualities if q.status == "withheld"] == ["slots"]
    assert "coverage 50.0%" in by_label["slots"].reason and by_label["intent"].reason is None
    assert release["slots"].null_count() == 4  # withheld: even the turns at 0.9
    assert release["slots_confidence"].to_list() == [0.9, 0.9, 0.2, 0.4]  # the confidences stay
    assert release["intent"].to_list() == ["music.play", None, "weather.get", "weather.get"]
    assert release["failure_point"].to_list() == ["correct", "nlu", "asr", "correct"]


def test_blocking_reasons():
    assert blocking_reasons({"slots": "low"}, ["failure_point"]) == []
    assert blocking_reasons({"failure_point": "low"}, ["failure_point"]) == [
        "required label failure_point withheld: low"
    ]
    assert blocking_reasons(dict.fromkeys(LABELS, "low"), []) == ["every label withheld"]


def test_required_labels_gate_blocks_only_an_unusable_day():
    release, qualities = gate_labels(_day_labels(), _qualities(), FLOOR)
    ok = required_labels_gate(release, quality_frame(qualities), ["failure_point"])
    assert ok.passed and ok.blocking
    assert ok.description.startswith("released: goal_start, goal_success, intent, failure_point; required")
    assert "withheld: slots (coverage 50.0%" in ok.description

    release, qualities = gate_labels(_day_labels(), _qualities(failure_point=NO_THRESHOLD), FLOOR)
    required = required_labels_gate(release, quality_frame(qualities), ["failure_point"])
    assert not required.passed and required.blocking
    assert required.description == (
        "day blocked: required label failure_point withheld: no threshold reaches precision 0.800 on 10 audit "
        "turns"
    )
    assert required_labels_gate(release, quality_frame(qualities), []).passed  # not required: published

    release, qualities = gate_labels(_day_labels(), _qualities(**dict.fromkeys(LABELS, NO_THRESHOLD)), FLOOR)
    every = required_labels_gate(release, quality_frame(qualities), [])
    assert not every.passed and every.description == "day blocked: every label withheld"

    # a label marked withheld that still has values is an inconsistent release
    release, qualities = gate_labels(_day_labels(), _qualities(), FLOOR)
    leaked = release.with_columns(slots=_day_labels()["slots"])
    gate = required_labels_gate(leaked, quality_frame(qualities), ["failure_point"])
    assert not gate.passed and "withheld label slots has 3 values in the release" in gate.description


COUNTS = {
    "clean_turns": 4,
    "release_rows": 4,
    "distinct_event_ids": 4,
    "turns_missing": 0,
    "rows_without_turn": 0,
    "turns_without_labels": 0,
    "turns_without_failure_point": 0,
}


def _publish_gated(root, day, required=("failure_point",), **changes):
    """Build, gate (the real GX gates) and publish the release of `_day_labels` under FLOOR."""
    release, qualities = gate_labels(_day_labels(), _qualities(**changes), FLOOR)
    quality = quality_frame(qualities)
    params = {
        "coverage_floor": FLOOR,
        "required_labels": list(required),
        "drift_max": 0.2,
        "drift_blocking": False,
    }
    thresholds, section = quality_sections(quality)
    manifest = {
        "models": {},
        "thresholds": thresholds,
        "withheld": withheld_labels(quality),
        "required_labels": list(required),
        "quality": section,
        "gold": gold_section(quality, *gold_params(params)),  # the defaults: 0.7, 0.15, 30 turns
        "audit": {"source": "day", "days": [day.isoformat()], "turns": 10},
    }
    return publish_release(root, day, release, manifest, all_gates(release, COUNTS, quality, params))


def test_a_withheld_label_is_null_in_the_release_and_named_in_manifest_and_data_card(tmp_path):
    folder = _publish_gated(tmp_path, date(2026, 11, 2))
    table, manifest = read_release(folder)
    assert table["slots"].null_count() == 4 and table["intent"].null_count() == 1
    reason = "coverage 50.0% of the day's turns at threshold 0.600, under the floor 60%"
    assert manifest["withheld"] == {"slots": reason}
    assert manifest["quality"]["slots"]["status"] == "withheld"
    assert manifest["quality"]["intent"] == {
        **manifest["quality"]["intent"],
        "status": "released",
        "reason": None,
    }
    assert (
        manifest["row_counts"]["slots_released"] == 0
        and manifest["row_counts"]["failure_point_released"] == 4
    )
    assert set(manifest["checks"]["passed"]) == set(GATES)
    card = (folder / "DATACARD.md").read_text()
    assert f"- **slots**: {reason}" in card
    assert "| slots | withheld | 0.600 |" in card and "| intent | released | 0.600 |" in card


def test_a_withheld_required_label_publishes_nothing_and_the_previous_release_stays(tmp_path):
    first = _publish_gated(tmp_path, date(2026, 11, 1))
    before = {p: p.read_bytes() for p in first.iterdir()}
    with pytest.raises(
        ReleaseRefused,
        match="label_release_required_labels: day blocked: required label failure_point withheld",
    ) as refused:
        _publish_gated(tmp_path, date(2026, 11, 2), failure_point=NO_THRESHOLD)
    assert refused.value.previous == first
    assert {p: p.read_bytes() for p in first.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == ["date=2026-11-01"]
    # not required: the same day goes out without it
    folder = _publish_gated(tmp_path, date(2026, 11, 2), required=(), failure_point=NO_THRESHOLD)
    assert set(read_release(folder)[1]["withheld"]) == {"slots", "failure_point"}


def _half_sessions(half: str, n: int) -> list[str]:
    return [s for s in (f"s{i}" for i in range(1000)) if audit_half(s) == half][:n]


def test_cross_fit_chooses_on_half_a_and_reports_on_half_b():
    # half A: the ten turns above, one session each: at target .80 the threshold is 0.6, precision 5/6.
    # half B, by hand at 0.6: 0.9 right, 0.7 wrong, 0.65 right, 0.6 wrong released (2/4 = .5); 0.5, 0.3 not.
    b_conf, b_right = [0.9, 0.7, 0.65, 0.6, 0.5, 0.3], [True, False, True, False, True, True]
    audit = pl.DataFrame(
        {
            "session_id": _half_sessions("A", 10) + _half_sessions("B", 6),
            "intent_confidence": CONFIDENCE + b_conf,
            "intent_correct": CORRECT + b_right,
            "ann_intent_correct": [True] * 12 + [False] * 4,  # annotator .75 on all 16
        }
    )
    q = measure_label_cross_fit(audit, "intent", target=0.8)
    assert q.split == "A/B" and q.target == 0.8 and q.target_source == "fixed"
    assert q.threshold == 0.6 and q.precision == pytest.approx(5 / 6)
    assert (
        q.audit_turns == 10 and q.audit_released == 6 and q.precision_low == pytest.approx(wilson_low(5, 6))
    )
    assert q.heldout_turns == 6 and q.heldout_released == 4
    assert q.precision_heldout == pytest.approx(0.5)
    assert q.precision_heldout_low == pytest.approx(wilson_low(2, 4))
    assert q.annotator_precision == pytest.approx(0.75) and q.annotator_turns == 16  # on the whole set
    annotator = measure_label_cross_fit(audit, "intent", target=None)
    assert annotator.target == pytest.approx(0.75) and annotator.threshold == 0.5  # A at 0.5: 6/8 = .75
    assert annotator.heldout_released == 5 and annotator.precision_heldout == pytest.approx(3 / 5)
    # a session's turns stay in one half, and the halves do not follow the holdout hash
    assert {audit_half(s) for s in _half_sessions("A", 10)} == {"A"}
    holdout = [f"h{i}" for i in range(200) if is_holdout(f"h{i}")]
    assert 0.35 < sum(audit_half(s) == "A" for s in holdout) / len(holdout) < 0.65


def test_a_precision_floor_raises_the_target():
    # the single annotator is right on 4 of the 10 turns: without a floor the target is .40 and every turn goes
    # out (0.3: 6/10); with the floor .80 the threshold is 0.6 (5/6), as for a fixed target of .80
    audit = _audit().with_columns(ann_intent_correct=pl.Series([True] * 4 + [False] * 6))
    low = measure_label(audit, "intent", target=None)
    assert low.target == pytest.approx(0.4) and low.threshold == 0.3 and low.target_source == "annotator"
    q = measure_label(audit, "intent", target=None, floor=0.8)
    assert q.target == 0.8 and q.target_source == "floor" and q.precision_floor == 0.8
    assert q.annotator_precision == pytest.approx(0.4) and q.threshold == 0.6
    assert q.precision == pytest.approx(5 / 6) and q.audit_released == 6
    # a floor under the annotator's precision (.80) or a fixed target leaves the target alone
    assert measure_label(_audit(), "intent", None, floor=0.7).target_source == "annotator"
    fixed = measure_label(audit, "intent", target=0.85, floor=0.8)
    assert (fixed.target, fixed.target_source) == (0.85, "fixed")
    # a label that cannot reach its floor is withheld, and says why
    strict = measure_label(audit, "intent", target=None, min_support=4, floor=0.9)
    assert strict.threshold is None
    assert withhold_reason(strict, 0.5) == (
        "no threshold reaches precision 0.900 on 10 audit turns (the precision floor; the single annotator's "
        "precision is 0.400)"
    )
    assert precision_floors(0.8, {"slots": 0.7}) == {**dict.fromkeys(LABELS, 0.8), "slots": 0.7}
    assert effective_target(None, 0.8) == (None, False) and effective_target(0.9, 0.8) == (0.9, False)


def test_cross_fit_keeps_the_floor():
    audit = pl.DataFrame(
        {
            "session_id": _half_sessions("A", 10),
            "intent_confidence": CONFIDENCE,
            "intent_correct": CORRECT,
            "ann_intent_correct": [True] * 4 + [False] * 6,
        }
    )
    q = measure_label_cross_fit(audit, "intent", target=None, floor=0.8)
    assert (q.target, q.target_source, q.precision_floor, q.threshold) == (0.8, "floor", 0.8, 0.6)


def test_a_released_target_under_its_floor_fails_the_precision_gate():
    assert precision_gate(_quality(**{label: {"precision_floor": 0.8} for label in LABELS})).passed
    bad = precision_gate(_quality(intent={"precision_floor": 0.85}))  # target .80 under a floor of .85
    assert not bad.passed and "intent: target 0.800 under its precision floor 0.850" in bad.description


def _gold_audit() -> pl.DataFrame:
    # by hand, on the rows with both labels: goal_start 3 of 4 (the last row has no annotator label);
    # intent 3 of 4 (the last row has no gold); slots, per turn Jaccard: 1 (values compared lower-cased),
    # 1/2 (one shared pair of two), 1 (both empty), 0 → 2.5 / 4
    slots = [
        ([{"name": "city", "value": "Paris"}], [{"name": "city", "value": "paris"}]),
        (
            [{"name": "city", "value": "rome"}, {"name": "day", "value": "monday"}],
            [{"name": "city", "value": "rome"}],
        ),
        ([], []),
        ([], [{"name": "x", "value": "y"}]),
        (None, []),
    ]
    return pl.DataFrame(
        {
            "gold_goal_start": [True, False, True, False, True],
            "ann_goal_start": [True, True, True, False, None],
            "gold_intent": ["a.b", "c.d", "e.f", "g.h", None],
            "ann_intent": ["a.b", "c.d", "x.y", "g.h", "a.b"],
            "gold_slots": pl.Series([g for g, _ in slots], dtype=SLOTS_TYPE),
            "ann_slots": pl.Series([a for _, a in slots], dtype=SLOTS_TYPE),
        }
    )


def test_gold_agreement_by_hand():
    audit = _gold_audit()
    assert gold_agreement(audit, "goal_start") == GoldAgreement(0.75, 4)
    assert gold_agreement(audit, "intent") == GoldAgreement(0.75, 4)
    assert gold_agreement(audit, "slots") == GoldAgreement(0.625, 4)
    assert turn_agreement("slots", [{"name": "a", "value": "1"}], [{"name": "b", "value": "1"}]) == 0.0
    assert turn_agreement("intent", None, "a.b") is None
    empty = audit.clear()
    assert gold_agreement(empty, "intent") == GoldAgreement(None, 0)


def _gold(agreement: float | None, turns: int, previous: float | None = None, **labels) -> pl.DataFrame:
    """Quality rows whose every label (or the labels given) has this gold agreement on `turns` turns."""
    row = {
        "gold_agreement": agreement,
        "gold_turns": turns,
        "gold_agreement_previous": previous,
        "gold_previous_day": date(2026, 11, 1) if previous is not None else None,
    }
    return _quality(**{label: {**row, **labels.get(label, {})} for label in LABELS})


def test_gold_gate_passes_fails_and_does_not_judge_few_turns():
    ok = gold_gate(_gold(0.9, 40), floor=0.7, drop_max=0.15, min_turns=30)
    assert ok.passed and ok.blocking and ok.name == "label_release_gold"
    assert (
        ok.description.startswith("the audit gold agrees with the single annotator")
        and "intent 0.900" in ok.description
    )
    assert ok.metadata["verdicts"] == dict.fromkeys(LABELS, "passed")

    bad = gold_gate(_gold(0.9, 40, intent={"gold_agreement": 0.5}), floor=0.7, drop_max=0.15, min_turns=30)
    assert not bad.passed and bad.blocking
    assert bad.description == (
        "day blocked: the audit gold disagrees with the single annotator: intent 0.500 under the floor 0.70 on 40 "
        "turns"
    )
    assert {(f.expectation, f.column) for f in bad.outcome.failures} == {
        ("expect_column_values_to_be_between", "judged_agreement")
    }
    assert bad.metadata["verdicts"]["intent"] == "failed" and bad.metadata["verdicts"]["slots"] == "passed"

    few = gold_gate(_gold(0.9, 40, intent={"gold_agreement": 0.5, "gold_turns": 10}), 0.7, 0.15, 30)
    assert few.passed and few.metadata["verdicts"]["intent"] == "not judged"
    assert few.description.endswith("; not judged (under 30 gold+annotator turns): intent (10)")
    none = gold_gate(_gold(None, 0), 0.7, 0.15, 30)
    assert none.passed and none.description.startswith(
        "gold not judged, under 30 gold+annotator turns: goal_start (0)"
    )


def test_gold_gate_fails_when_the_agreement_drops():
    drop = "intent down from 0.950 (release of 2026-11-01) to 0.600, a drop of 0.350 > 0.15"
    fell_intent = {
        "gold_agreement": 0.6,
        "gold_agreement_previous": 0.95,
        "gold_previous_day": date(2026, 11, 1),
    }
    fell = gold_gate(_gold(0.9, 40, intent=fell_intent), floor=0.5, drop_max=0.15, min_turns=30)
    assert not fell.passed and fell.description.endswith(drop)
    assert {f.column for f in fell.outcome.failures} == {"agreement_drop"}  # 0.6 is over this floor of 0.5
    both = gold_gate(_gold(0.6, 40, previous=0.95), 0.7, 0.15, 30)  # the defaults: under the floor too
    assert "intent 0.600 under the floor 0.70 on 40 turns, down from 0.950" in both.description
    assert gold_gate(_gold(0.85, 40, previous=0.95), 0.5, 0.15, 30).passed  # a drop of 0.10
    assert gold_gate(_gold(0.8, 40, previous=0.95), 0.5, 0.15, 30).passed  # 0.15 exactly: not more
    assert "(was 0.950)" in gold_gate(_gold(0.85, 40, previous=0.95), 0.5, 0.15, 30).description


def test_previous_agreement_is_the_newest_published_one_judged():
    def manifest(day: str, **quality) -> dict:
        return {"date": day, "quality": quality}

    manifests = [  # newest first
        manifest("2026-11-03", intent={"gold_agreement": None, "gold_turns": 0}),
        manifest(
            "2026-11-02",
            intent={"gold_agreement": 0.8, "gold_turns": 40},
            slots={"gold_agreement": 0.2, "gold_turns": 10},
        ),
        manifest(
            "2026-11-01",
            intent={"gold_agreement": 0.9, "gold_turns": 40},
            slots={"gold_agreement": 0.7, "gold_turns": 40},
        ),
        {"date": "2026-10-31"},  # a release made before the gold check
    ]
    assert previous_agreements(manifests, min_turns=30) == {
        "intent": (0.8, date(2026, 11, 2)),
        "slots": (0.7, date(2026, 11, 1)),
    }
    assert previous_agreements([], 30) == {}


def test_corrupted_gold_blocks_the_day_and_the_previous_release_stays(tmp_path):
    good = {label: {"gold_agreement": 0.9, "gold_turns": 40} for label in LABELS}
    first = _publish_gated(tmp_path, date(2026, 11, 1), **good)
    before = {p: p.read_bytes() for p in first.iterdir()}
    _, manifest = read_release(first)
    assert manifest["quality"]["intent"]["gold_agreement"] == 0.9
    assert manifest["gold"]["labels"]["intent"] == {
        "agreement": 0.9,
        "turns": 40,
        "previous": None,
        "previous_day": None,
        "verdict": "passed",
        "problem": None,
    }
    card = (first / "DATACARD.md").read_text()
    assert "## Gold check" in card and "| intent | 0.900 | 40 | – | passed |" in card

    baseline = previous_agreements(published_manifests(tmp_path, date(2026, 11, 2), 7), 30)
    assert baseline == dict.fromkeys(LABELS, (0.9, date(2026, 11, 1)))
    shuffled = {
        **good,
        "intent": {
            "gold_agreement": 0.5,
            "gold_turns": 40,
            "gold_agreement_previous": 0.9,
            "gold_previous_day": date(2026, 11, 1),
        },
    }
    with pytest.raises(
        ReleaseRefused, match="label_release_gold: day blocked: the audit gold disagrees"
    ) as refused:
        _publish_gated(tmp_path, date(2026, 11, 2), **shuffled)
    assert refused.value.previous == first
    assert {p: p.read_bytes() for p in first.iterdir()} == before
    assert latest_release(tmp_path) == first

"""The steps of a day's label release outside Dagster: the run config's checks, the candidate built from hand-made
turns and audit set, what was published before, the stored release read back, and its export."""

from dataclasses import fields
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from selflearn_assets.lib.models.label_data import SLOTS_TYPE
from selflearn_assets.lib.releases import ReleaseRefused, release_folder
from selflearn_assets.lib.releases.audit_set import AuditSet
from selflearn_assets.lib.releases.build import RELEASE_COLUMNS, missing_counts
from selflearn_assets.lib.releases.candidate import build_candidate
from selflearn_assets.lib.releases.export import export_release
from selflearn_assets.lib.releases.inputs import PublishedBefore, ReleaseInputs, load_published_before
from selflearn_assets.lib.releases.labels import LABELS
from selflearn_assets.lib.releases.params import param_problems
from selflearn_assets.lib.releases.store import (
    QUALITY_SCHEMA,
    StoredRelease,
    stored_release,
    write_release_day,
)
from selflearn_assets.lib.releases.thresholds import LabelQuality, wilson_low
from selflearn_assets.lib.sql import run_sql

DAY, BEFORE = date(2026, 11, 2), date(2026, 11, 1)
# The run config as label_release records it (every field of ReleaseConfig; see the last test of this file).
PARAMS = {
    "precision_target": "annotator",
    "precision_floor": 0.8,
    "precision_floors": {"intent": 0.9},
    "gold_agreement_floor": 0.7,
    "gold_agreement_drop_max": 0.15,
    "gold_min_turns": 5,
    "coverage_floor": 0.6,
    "required_labels": ["failure_point"],
    "drift_max": 0.2,
    "drift_blocking": False,
    "audit_min_turns": 20,
    "audit_window_days": 7,
    "min_support": 1,
    "cross_fit": False,
}


def test_a_usable_config_has_no_problems_and_each_problem_is_named_in_order():
    assert param_problems(PARAMS) == []
    bad = {
        **PARAMS,
        "precision_target": "human",
        "drift_max": 1.5,
        "required_labels": ["failure", "intent"],
        "precision_floors": {"slot": 0.5, "intent": -0.1},
        "min_support": 0,
    }
    assert param_problems(bad) == [
        "precision_target must be \"annotator\" or a number in (0, 1], got 'human'",
        "drift_max must be in [0, 1], got 1.5",
        "required_labels must be among goal_start, goal_success, intent, slots, failure_point, got failure",
        "precision_floors must name labels among goal_start, goal_success, intent, slots, failure_point, got slot",
        "precision_floors.intent must be in [0, 1], got -0.1",
        "min_support must be at least 1, got 0",
    ]


# Ten audit turns, most confident first, the same for every label. The model is right on 6 (precision at each
# confidence, by hand: 0.95 1/1, 0.90 2/2, 0.85 3/3, 0.80 3/4, 0.70 4/5, 0.60 5/6 = .833, 0.55 5/7, 0.50 6/8,
# 0.40 6/9, 0.30 6/10); the single annotator on 8 (precision .80). Target .80: the lowest confidence reaching it
# is 0.60. Intent's floor .90 raises its target: 0.85 (3/3) is the lowest reaching it.
CONFIDENCE = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3]
CORRECT = [True, True, True, False, True, True, False, True, False, False]
ANNOTATOR = [True, True, False, True, True, True, True, False, True, True]


def _audit() -> pl.DataFrame:
    columns: dict = {
        "day": [DAY] * 10,
        "event_id": [f"a{i}" for i in range(10)],
        "session_id": [f"s{i}" for i in range(10)],
    }
    for label in LABELS:
        columns |= {
            f"{label}_confidence": CONFIDENCE,
            f"{label}_correct": CORRECT,
            f"ann_{label}_correct": ANNOTATOR,
        }
        if label == "slots":  # the gold check: Jaccard 1 where the annotator is right, 0 where it is wrong
            pair = [{"name": "city", "value": "rome"}]
            columns["gold_slots"] = pl.Series([pair] * 10, dtype=SLOTS_TYPE)
            columns["ann_slots"] = pl.Series([pair if ok else [] for ok in ANNOTATOR], dtype=SLOTS_TYPE)
        else:
            columns[f"gold_{label}"] = ["x"] * 10
            columns[f"ann_{label}"] = ["x" if ok else "y" for ok in ANNOTATOR]
    return pl.DataFrame(columns)


def _day_labels() -> pl.DataFrame:
    """Four turns of the day. At 0.60, by hand: goal_start 3 of 4 turns, goal_success 4, slots 2, failure_point
    4; intent at 0.85: 2 of 4."""
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
            "slots": pl.Series([[{"name": "artist", "value": "abba"}], [], [], []], dtype=SLOTS_TYPE),
            "slots_confidence": [0.9, 0.9, 0.2, 0.4],
            "failure_point": ["correct", "nlu", "asr", "correct"],
            "failure_point_confidence": [0.9, 0.6, 0.7, 0.95],
            "label_model_version": ["3"] * 4,
            "failure_point_model_version": ["1"] * 4,
        }
    )


def _inputs() -> ReleaseInputs:
    day_labels = _day_labels()
    return ReleaseInputs(DAY, day_labels, missing_counts(day_labels), AuditSet(_audit(), [DAY], "day"))


def _published(tmp_path: Path) -> PublishedBefore:
    """The release of BEFORE: goal_start true on both of its turns; its manifest judged intent's gold at .90."""
    previous = pl.DataFrame({"goal_start": [True, True]})
    manifest = {"date": BEFORE.isoformat(), "quality": {"intent": {"gold_agreement": 0.9, "gold_turns": 10}}}
    return PublishedBefore(tmp_path / "labels" / f"date={BEFORE}", previous, None, [manifest])


def test_the_candidate_of_a_hand_made_day(tmp_path):
    published = _published(tmp_path)
    candidate = build_candidate(_inputs(), published, PARAMS)
    q = {q.label: q for q in candidate.qualities}
    assert [q.label for q in candidate.qualities] == list(LABELS)
    assert {label: q[label].threshold for label in LABELS} == {
        "goal_start": 0.6,
        "goal_success": 0.6,
        "intent": 0.85,
        "slots": 0.6,
        "failure_point": 0.6,
    }
    assert q["goal_start"].target == pytest.approx(0.8) and q["goal_start"].target_source == "annotator"
    assert (q["intent"].target, q["intent"].target_source, q["intent"].precision) == (0.9, "floor", 1.0)
    assert q["goal_start"].precision == pytest.approx(5 / 6)
    assert q["goal_start"].precision_low == pytest.approx(wilson_low(5, 6))
    assert candidate.floors == {**dict.fromkeys(LABELS, 0.8), "intent": 0.9}
    # coverage of the day at the threshold; under the floor .60 a label is withheld
    assert {label: q[label].coverage_day for label in LABELS} == {
        "goal_start": 0.75,
        "goal_success": 1.0,
        "intent": 0.5,
        "slots": 0.5,
        "failure_point": 1.0,
    }
    assert {label: q[label].status for label in LABELS} == {
        **dict.fromkeys(LABELS, "released"),
        "intent": "withheld",
        "slots": "withheld",
    }
    intent_reason = "coverage 50.0% of the day's turns at threshold 0.850, under the floor 60%"
    assert q["intent"].reason == intent_reason
    # the release: withheld labels null on every turn, the others at their threshold, confidences kept
    release = candidate.release
    assert release.columns == RELEASE_COLUMNS
    assert release["intent"].null_count() == release["slots"].null_count() == 4
    assert release["goal_start"].to_list() == [True, False, True, None]
    assert release["failure_point"].to_list() == ["correct", "nlu", "asr", "correct"]
    assert release["intent_confidence"].to_list() == [0.95, 0.5, 0.8, 0.99]
    # drift of goal_start: released {true 2/3, false 1/3} vs the previous {true 1}: TVD 1/3; no other label
    assert q["goal_start"].drift == pytest.approx(1 / 3)
    assert [q[label].drift for label in LABELS if label != "goal_start"] == [None] * 4
    assert {q[label].drift_against for label in LABELS} == {BEFORE}
    # the gold check: the annotator agrees with gold on 8 of 10 turns; intent's baseline is the published .90
    assert {q[label].gold_agreement for label in LABELS} == {0.8}
    assert {q[label].gold_turns for label in LABELS} == {10}
    assert (q["intent"].gold_agreement_previous, q["intent"].gold_previous_day) == (0.9, BEFORE)
    assert q["slots"].gold_agreement_previous is None
    # the quality frame is the qualities, in the table's types
    assert candidate.quality.schema == pl.Schema(QUALITY_SCHEMA)
    assert candidate.quality["threshold"].to_list() == [0.6, 0.6, 0.85, 0.6, 0.6]
    assert candidate.build == {
        "params": PARAMS,
        "audit_source": "day",
        "audit_days": [DAY],
        "audit_turns": 10,
        "clean_turns": 4,
        "turns_without_labels": 0,
        "turns_without_failure_point": 0,
        "previous_release": str(published.folder),
    }
    assert candidate.warnings == [
        f"audit set of 10 gold holdout turns (day: [{DAY!r}]) is under audit_min_turns=20; thresholds and "
        "precision are uncertain",
        f"intent withheld for {DAY}: {intent_reason}",
        f"slots withheld for {DAY}: coverage 50.0% of the day's turns at threshold 0.600, under the floor 60%",
    ]


def test_without_a_readable_previous_release_nothing_drifts(tmp_path):
    unreadable = PublishedBefore(tmp_path / "labels" / f"date={BEFORE}", None, "checksum mismatch", [])
    params = {**PARAMS, "coverage_floor": 0.5, "audit_min_turns": 10}
    candidate = build_candidate(_inputs(), unreadable, params)
    assert {q.drift for q in candidate.qualities} == {None}
    assert {q.drift_against for q in candidate.qualities} == {None}
    assert {q.gold_agreement_previous for q in candidate.qualities} == {None}
    assert candidate.build["previous_release"] is None
    assert {q.status for q in candidate.qualities} == {"released"}  # .50 of the day reaches the floor .50
    assert candidate.warnings == []


def test_what_was_published_before(tmp_path):
    nothing = load_published_before(tmp_path, DAY)
    assert nothing == PublishedBefore(None, None, None, [])
    assert nothing.baseline is None and nothing.baseline_day is None
    release = _day_labels().select(RELEASE_COLUMNS)
    stored = StoredRelease(_build(), release, _quality_frame(), dict(COUNTS))
    exported = export_release(tmp_path, BEFORE, stored, None, {"asset": "test"})
    published = load_published_before(tmp_path, DAY)
    assert published.folder == exported.folder and published.error is None
    assert published.table.equals(release)
    assert published.baseline == exported.folder and published.baseline_day == BEFORE
    assert [m["date"] for m in published.manifests] == [BEFORE.isoformat()]
    assert load_published_before(tmp_path, BEFORE).folder is None  # strictly before the day
    (exported.folder / "labels.parquet").write_bytes(b"not the release")
    broken = load_published_before(tmp_path, DAY)
    assert broken.folder == exported.folder and broken.table is None and broken.baseline is None
    assert "does not match the sha256 in its manifest" in broken.error
    assert len(broken.manifests) == 1  # its manifest still carries the gold baseline


COUNTS = {
    "clean_turns": 4,
    "release_rows": 4,
    "distinct_event_ids": 4,
    "turns_missing": 0,
    "rows_without_turn": 0,
    "turns_without_labels": 0,
    "turns_without_failure_point": 0,
}


def _quality_frame() -> pl.DataFrame:
    """Every label released at 0.6 with precision 5/6 over a target .80 and 100% of the day."""
    template = LabelQuality(
        label="",
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
        coverage_day=1.0,
        precision_floor=0.8,
    )
    rows = [
        {f.name: getattr(template, f.name) for f in fields(template)} | {"label": label} for label in LABELS
    ]
    return pl.DataFrame(rows, schema=QUALITY_SCHEMA)


def _build() -> dict:
    return {
        "params": {**PARAMS, "coverage_floor": 0.5},
        "audit_source": "day",
        "audit_days": [BEFORE],
        "audit_turns": 10,
        "clean_turns": 4,
        "turns_without_labels": 0,
        "turns_without_failure_point": 0,
        "previous_release": None,
    }


def test_a_written_release_reads_back_whole(tmp_path):
    con = duckdb.connect()
    run_sql(con, "ingest/schema.sql")
    start = datetime(2026, 11, 2, 9, 0)
    # e2 was said before e1 in s1: the stored release comes back in session and turn order
    ts = {"e1": start + timedelta(seconds=30), "e2": start, "e3": start, "e4": start + timedelta(seconds=5)}
    con.executemany(
        "INSERT INTO ingest.clean_turns (day, event_id, session_id, user_id, device_id, ts, asr_text, locale, "
        "source_file, source_line) VALUES (?, ?, ?, 'u', 'd', ?, 'play abba', 'en-US', 'f', ?)",
        [
            (DAY, e, s, ts[e], i)
            for i, (e, s) in enumerate([("e1", "s1"), ("e2", "s1"), ("e3", "s2"), ("e4", "s2")])
        ],
    )
    release, quality = _day_labels().select(RELEASE_COLUMNS), _quality_frame()
    build = {**_build(), "audit_days": [DAY]}
    write_release_day(con, DAY, release, quality, build)
    assert stored_release(con, BEFORE) is None
    stored = stored_release(con, DAY)
    assert stored.release.equals(release[[1, 0, 2, 3]])
    assert stored.quality.equals(quality.sort("label"))
    assert {k: v for k, v in stored.build.items() if k not in ("day", "built_at")} == build
    assert stored.build["day"] == DAY and isinstance(stored.build["built_at"], datetime)
    assert stored.counts == COUNTS
    con.close()


def test_an_export_publishes_a_passing_release_and_refuses_a_failing_one(tmp_path):
    release = _day_labels().select(RELEASE_COLUMNS)
    stored = StoredRelease(_build(), release, _quality_frame(), dict(COUNTS))
    provenance = {"dagster_run_id": "run-1", "asset": "label_release_export"}
    exported = export_release(tmp_path, BEFORE, stored, None, provenance)
    assert exported.folder == release_folder(tmp_path, BEFORE)
    assert all(g.passed for g in exported.gates) and len(exported.gates) == 7
    assert list(exported.manifest) == [
        "precision_floors",
        "gold",
        "models",
        "thresholds",
        "withheld",
        "required_labels",
        "quality",
        "audit",
        "drift_against",
        "params",
        "dagster_run_id",
        "asset",
    ]
    assert exported.manifest["thresholds"] == dict.fromkeys(LABELS, 0.6)
    assert exported.manifest["precision_floors"] == dict.fromkeys(LABELS, 0.8)
    assert exported.manifest["models"]["label_model"] == {
        "registered_model": "selflearn-label-model",
        "versions": ["3"],
        "run_ids": {"3": None},
    }
    assert exported.manifest["audit"]["days"] == [BEFORE.isoformat()] and exported.manifest["withheld"] == {}
    missing = StoredRelease(_build(), release, _quality_frame(), {**COUNTS, "turns_missing": 1})
    with pytest.raises(ReleaseRefused, match="label_release_accounts_for_every_turn") as refused:
        export_release(tmp_path, DAY, missing, None, provenance)
    assert refused.value.previous == exported.folder  # the release in place stays
    assert not release_folder(tmp_path, DAY).exists()


def test_params_name_every_field_of_the_run_config():
    from selflearn_assets.defs.releases.assets import ReleaseConfig

    assert set(PARAMS) == set(ReleaseConfig.model_fields)
    assert param_problems(ReleaseConfig().model_dump()) == []

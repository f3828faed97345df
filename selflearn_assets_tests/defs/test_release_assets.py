"""label_release → gates → label_release_export through Dagster, on a warehouse of hand-made rows.

Each day has 30 sessions of 2 turns. Gold (and the single annotator) label the 10 first audit-holdout sessions
and 5 sessions outside the holdout. On the 20 holdout gold turns the models are right on 16 (confidence 0.9)
and wrong on 4 (confidence 0.6); the annotator is wrong on 2 (precision 0.9). So, by hand: at 0.6 precision
is 16/20 = 0.8 < 0.9, at 0.9 it is 16/16 = 1.0: every label's threshold is 0.9, with 80% of the audit turns
and 56 of the 60 turns of the day released. On the 10 gold turns outside the holdout the models are wrong with
confidence 0.95: were they (wrongly) used, no threshold would reach 0.9 and every label would be withheld.
The gold check compares gold with the annotator on the 20 audit turns: 18 agree, 0.9 for every label.
"""

import json
import random
from datetime import date, datetime, timedelta

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.ingest.checks import clean_turns_expectations, ingest_accounting
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.releases.assets import label_release, label_release_export
from selflearn_assets.defs.releases.checks import (
    label_release_accounts_for_every_turn,
    label_release_coverage,
    label_release_drift,
    label_release_gold,
    label_release_precision,
    label_release_required_labels,
    label_release_schema,
)
from selflearn_assets.defs.resources import MLflowResource, SelflearnConfig
from selflearn_assets.lib.labels import label_views
from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.models.audit import is_holdout
from selflearn_assets.lib.models.label_data import SLOTS_TYPE
from selflearn_assets.lib.releases import latest_release, read_release
from selflearn_assets.lib.releases.labels import LABELS
from selflearn_assets.lib.releases.thresholds import audit_half, wilson_low
from selflearn_assets.lib.settings import lake_root
from selflearn_assets.lib.sql import run_sql

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
CHECKS = [
    label_release_schema,
    label_release_accounts_for_every_turn,
    label_release_coverage,
    label_release_precision,
    label_release_gold,
    label_release_required_labels,
    label_release_drift,
]
RELEASE = [label_release, label_release_export, *CHECKS]
SMALL = {"audit_min_turns": 10, "min_support": 1, "gold_min_turns": 20}  # gold judged on the day's 20
WHOLE_SET = {"cross_fit": False}  # the hand-worked figures below choose and measure on the whole audit set

RIGHT = {
    "goal_success": True,
    "intent": "music.play",
    "slots": [{"name": "artist", "value": "abba"}],
    "failure_point": "correct",
}
WRONG = {"goal_success": False, "intent": "weather.get", "slots": [], "failure_point": "asr"}


def _sessions(day: date) -> tuple[list[str], list[str]]:
    names = (f"{day:%m%d}-s{i}" for i in range(1000))
    holdout, other = [], []
    for name in names:
        (holdout if is_holdout(name) else other).append(name)
        if len(holdout) >= 10 and len(other) >= 20:
            break
    return holdout[:10], other[:20]


def _values(right: bool, first: bool) -> dict:
    base = RIGHT if right else WRONG
    return {**base, "goal_start": first if right else not first}


def _add_day(con, lake: Lake, day: date, with_failure_points: bool = True, with_gold: bool = True) -> None:
    holdout, other = _sessions(day)
    turns, labels, points, annotations = [], [], [], []
    for s, session in enumerate(holdout + other):
        for t in range(2):
            event = f"{session}-t{t}"
            audit_index = 2 * s + t  # 0..19 on the holdout sessions
            if s < 10:
                gold, right, annotator_right = True, audit_index % 5 != 4, audit_index not in (3, 11)
                confidence = 0.9 if right else 0.6
            elif s < 15:  # gold outside the holdout: confidently wrong, must be ignored
                gold, right, annotator_right, confidence = True, False, True, 0.95
            else:
                gold, right, annotator_right, confidence = False, True, True, 0.9
            ts = datetime.combine(day, datetime.min.time()) + timedelta(minutes=3 * s, seconds=20 * t)
            turns.append((day, event, session, "u1", "d1", ts, "play abba", "en-US", "hand", len(turns) + 1))
            v = _values(right, t == 0)
            labels.append(
                {
                    "day": day,
                    "event_id": event,
                    "session_id": session,
                    "goal_id": 1,
                    "goal_start": v["goal_start"],
                    "goal_start_confidence": confidence,
                    "goal_success": v["goal_success"],
                    "goal_success_confidence": confidence,
                    "intent": v["intent"],
                    "intent_confidence": confidence,
                    "slots": v["slots"],
                    "slots_confidence": confidence,
                    "model_version": "7",
                }
            )
            p = {f"p_{c}": 0.0 for c in ("false_wake", "asr", "nlu", "er", "result", "correct")}
            points.append(
                {
                    "day": day,
                    "event_id": event,
                    "session_id": session,
                    "failure_point": v["failure_point"],
                    "failure_point_confidence": confidence,
                    **p,
                    "model_version": "2",
                }
            )
            if gold and with_gold:
                truth, human = _values(True, t == 0), _values(annotator_right, t == 0)
                for task in LABELS:
                    for who, value in (("gold", truth[task]), ("ann_1", human[task])):
                        annotations.append(
                            (day, event, task, who, json.dumps(value), who == "gold", "hand", 1)
                        )
    con.executemany(
        "INSERT INTO ingest.clean_turns (day, event_id, session_id, user_id, device_id, ts, asr_text, locale, "
        "source_file, source_line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        turns,
    )
    con.execute(
        "INSERT INTO ingest.partition_stats (day, files, lines_read, clean_rows, quarantined_rows, ingested_at) "
        "VALUES (?, 1, ?, ?, 0, timezone('UTC', now()))",
        [day, len(turns), len(turns)],
    )
    if annotations:
        con.executemany("INSERT INTO ingest.annotations VALUES (?, ?, ?, ?, ?::JSON, ?, ?, ?)", annotations)
    lake.write_partition(
        "labels.turn_labels", day, pl.DataFrame(labels).with_columns(pl.col("slots").cast(SLOTS_TYPE))
    )
    if with_failure_points:
        lake.write_partition("labels.failure_points", day, pl.DataFrame(points))


def _lake(home) -> Lake:
    return Lake(lake_root(home / "warehouse.duckdb"))


def _rewrite_day(home, table: str, day: date, **columns: pl.Expr) -> None:
    """Change columns of the day's `labels.<table>` rows, as an UPDATE would: its lake partition published
    again."""
    lake = _lake(home)
    rows = pl.from_arrow(lake.read_partition(f"labels.{table}", day))
    lake.write_partition(f"labels.{table}", day, rows.with_columns(**columns))


@pytest.fixture
def warehouse(selflearn_home):
    with duckdb.connect(str(selflearn_home / "warehouse.duckdb")) as con:
        run_sql(con, "ingest/schema.sql")
        label_views(con, _lake(selflearn_home))
        _add_day(con, _lake(selflearn_home), D1)
        _add_day(con, _lake(selflearn_home), D2)
    _pass_ingestion_gates(selflearn_home, D1, D2)
    return selflearn_home


@dg.asset(name="clean_turns", partitions_def=daily_partitions)
def hand_made_clean_turns() -> dg.MaterializeResult:
    """Stands for raw_turns here: the day's rows were written by hand (`_add_day`)."""
    return dg.MaterializeResult()


def _pass_ingestion_gates(home, *days: date) -> None:
    """Run the real blocking ingestion gates on the hand-made days (they pass): later stages read only such
    days."""
    for day in days:
        gates = dg.materialize(
            [hand_made_clean_turns, clean_turns_expectations, ingest_accounting],
            partition_key=day.isoformat(),
            resources={
                "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
                "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key="k"),
            },
        )
        evaluations = gates.get_asset_check_evaluations()
        assert len(evaluations) == 2 and all(e.passed for e in evaluations), evaluations


def _materialize(home, day: date, config: dict | None = None, assets=RELEASE, default_split: bool = False):
    return dg.materialize(
        assets,
        partition_key=day.isoformat(),
        resources={
            "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
            "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key="k"),
            "mlflow": MLflowResource(home=str(home)),
        },
        run_config={
            "ops": {
                "label_release": {
                    "config": {**SMALL, **({} if default_split else WHOLE_SET), **(config or {})}
                }
            }
        }
        if label_release in assets
        else None,
        raise_on_error=False,
    )


def _query(home, sql: str, params=None) -> pl.DataFrame:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(sql, params=params).pl()


def _folder(home, day: date):
    return home / "exports" / "labels" / f"date={day}"


def _failure(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return " ".join(e.event_specific_data.error.message for e in failures)


def test_a_passing_release_is_published_with_a_consistent_manifest(warehouse):
    result = _materialize(warehouse, D1)
    assert result.success, _failure(result)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {c.check_key.name for c in CHECKS} and all(e.passed for e in checks.values())
    precision = checks["label_release_precision"].metadata  # each label's value and its bound
    assert (precision["precision_intent"].value, precision["target_intent"].value) == (1.0, 0.9)
    assert f"| intent | 1.000 ({wilson_low(16, 16):.3f}) | 0.900 | 0.800 |  |" in precision["per_label"].value

    quality = _query(
        warehouse, "SELECT * FROM releases.release_quality WHERE day = $d ORDER BY label", {"d": D1}
    )
    assert quality["label"].to_list() == sorted(LABELS)
    assert quality["threshold"].to_list() == [0.9] * 5
    assert quality["precision"].to_list() == [1.0] * 5
    assert quality["annotator_precision"].to_list() == pytest.approx([0.9] * 5)
    assert quality["audit_turns"].to_list() == [20] * 5  # the holdout's gold turns only
    assert quality["coverage_audit"].to_list() == pytest.approx([0.8] * 5)
    assert quality["coverage_day"].to_list() == pytest.approx([56 / 60] * 5)
    assert quality["pct_of_human"].to_list() == pytest.approx([0.8 / 0.9] * 5)
    release = _query(warehouse, "SELECT * FROM releases.label_release WHERE day = $d", {"d": D1})
    assert release.height == 60 and release["intent"].null_count() == 4
    assert release.filter(pl.col("intent").is_null())["intent_confidence"].to_list() == [0.6] * 4

    metadata = result.asset_materializations_for_node("label_release")[0].metadata
    assert metadata["dagster/row_count"].value == 60
    # target, precision and its 95% lower bound on the 16 audit turns at 0.9; no held-out half
    row = f"| intent | 0.900 | 1.000 ({wilson_low(16, 16):.3f}) |  |"
    assert row in metadata["quality"].value
    throughput = "| intent | 80.0% | 93.3% | 20 |  |"  # 16/20 audit, 56/60 day turns; no drift yet
    assert throughput in metadata["throughput"].value
    assert metadata["withheld"].value == {}
    assert quality["status"].to_list() == ["released"] * 5 and quality["reason"].null_count() == 5

    folder = _folder(warehouse, D1)
    assert sorted(p.name for p in folder.iterdir()) == ["DATACARD.md", "labels.parquet", "manifest.json"]
    table, manifest = read_release(folder)  # verifies the checksums and the row count
    assert table.height == manifest["rows"] == 60
    assert manifest["thresholds"] == dict.fromkeys(LABELS, 0.9)
    assert manifest["withheld"] == {} and manifest["required_labels"] == ["failure_point"]
    assert manifest["row_counts"]["slots_released"] == int(table["slots"].is_not_null().sum()) == 56
    assert manifest["quality"]["failure_point"]["precision"] == 1.0
    assert manifest["quality"]["failure_point"]["coverage"] == pytest.approx(0.8)
    assert manifest["quality"]["failure_point_pct_of_human"] == pytest.approx(0.8 / 0.9)
    assert manifest["models"]["label_model"]["versions"] == ["7"]
    assert manifest["models"]["failure_point_model"] == {
        "registered_model": "selflearn-failure-point-model",
        "versions": ["2"],
        "run_ids": {"2": None},
    }
    assert sorted(manifest["checks"]["passed"]) == sorted(c.check_key.name for c in CHECKS)
    assert manifest["audit"] == {
        "source": "day",
        "days": ["2026-11-01"],
        "turns": 20,
        "holdout": manifest["audit"]["holdout"],
    }
    export = result.asset_materializations_for_node("label_release_export")[0].metadata
    assert export["path"].value == "exports/labels/date=2026-11-01/"  # relative to SELFLEARN_HOME
    assert export["absolute_path"].value == str(folder)


def test_a_failing_release_is_not_published_and_the_previous_one_stays(warehouse):
    assert _materialize(warehouse, D1).success
    published = {p.name: p.read_bytes() for p in _folder(warehouse, D1).iterdir()}

    blocked = _materialize(warehouse, D2, {"coverage_floor": 0.95})  # 56/60 turns: every label withheld
    checks = {e.check_name: e for e in blocked.get_asset_check_evaluations()}
    required = checks["label_release_required_labels"]
    assert not required.passed and required.severity == dg.AssetCheckSeverity.ERROR
    assert required.description.startswith(
        "day blocked: required label failure_point withheld: coverage 93.3%"
    )
    assert required.description.endswith("; every label withheld")
    assert (
        checks["label_release_coverage"].passed
        and "withheld: goal_start" in checks["label_release_coverage"].description
    )
    assert checks["label_release_precision"].passed
    assert checks["label_release_drift"].passed and "2026-11-01" in checks["label_release_drift"].description
    assert not blocked.asset_materializations_for_node("label_release_export")  # skipped: blocked upstream
    assert not _folder(warehouse, D2).exists()

    # publishing on its own re-evaluates the gates and refuses, saying why
    alone = _materialize(warehouse, D2, assets=[label_release_export])
    assert not alone.success
    assert "label_release_required_labels: day blocked: required label failure_point" in _failure(alone)
    assert "the release in place stays" in _failure(alone) and "date=2026-11-01" in _failure(alone)
    assert not _folder(warehouse, D2).exists()

    # a failing rebuild of an already published day leaves that release as it was
    assert not _materialize(warehouse, D1, {"precision_target": "1.0", "min_support": 20}).success
    assert {p.name: p.read_bytes() for p in _folder(warehouse, D1).iterdir()} == published
    assert sorted(p.name for p in (warehouse / "exports" / "labels").iterdir()) == ["date=2026-11-01"]


def _set_confidence(home, table: str, label: str, day: date, value: float) -> None:
    _rewrite_day(home, table, day, **{f"{label}_confidence": pl.lit(value)})


# every audit turn at one confidence: 16 of 20 right, precision 0.8 < the annotator's 0.9 at any threshold
NO_THRESHOLD = "no threshold reaches precision 0.900 on 20 audit turns"


def test_a_failing_label_is_withheld_and_the_others_are_published(warehouse):
    _set_confidence(warehouse, "turn_labels", "slots", D1, 0.6)
    result = _materialize(warehouse, D1)
    assert result.success, _failure(result)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert all(e.passed for e in checks.values())
    assert f"withheld: slots ({NO_THRESHOLD})" in checks["label_release_precision"].description
    assert f"withheld: slots ({NO_THRESHOLD})" in checks["label_release_coverage"].description
    assert checks["label_release_required_labels"].description.startswith(
        "released: goal_start, goal_success, intent, failure_point; required failure_point released"
    )
    quality = _query(
        warehouse, "SELECT label, status, reason FROM releases.release_quality WHERE day = $d", {"d": D1}
    )
    assert dict(zip(quality["label"], quality["status"], strict=True)) == {
        **dict.fromkeys(LABELS, "released"),
        "slots": "withheld",
    }
    assert quality.filter(pl.col("label") == "slots")["reason"].to_list() == [NO_THRESHOLD]
    metadata = result.asset_materializations_for_node("label_release")[0].metadata
    assert metadata["withheld"].value == {"slots": NO_THRESHOLD}

    table, manifest = read_release(_folder(warehouse, D1))
    assert table.height == 60 and table["slots"].null_count() == 60
    assert table["slots_confidence"].to_list() == [0.6] * 60  # the confidences stay
    assert table["intent"].null_count() == 4 and table["failure_point"].null_count() == 4
    assert manifest["withheld"] == {"slots": NO_THRESHOLD}
    assert manifest["quality"]["slots"]["status"] == "withheld" and manifest["thresholds"]["slots"] is None
    assert manifest["row_counts"]["slots_released"] == 0
    card = (_folder(warehouse, D1) / "DATACARD.md").read_text()
    assert f"- **slots**: {NO_THRESHOLD}" in card and "| slots | withheld | – |" in card
    export = result.asset_materializations_for_node("label_release_export")[0].metadata
    assert export["withheld"].value == {"slots": NO_THRESHOLD}


def test_a_withheld_required_label_blocks_the_day_and_the_previous_release_stays(warehouse):
    assert _materialize(warehouse, D1).success
    published = {p.name: p.read_bytes() for p in _folder(warehouse, D1).iterdir()}
    _set_confidence(warehouse, "failure_points", "failure_point", D2, 0.6)

    blocked = _materialize(warehouse, D2)
    checks = {e.check_name: e for e in blocked.get_asset_check_evaluations()}
    required = checks["label_release_required_labels"]
    assert not required.passed and required.severity == dg.AssetCheckSeverity.ERROR
    assert required.description == f"day blocked: required label failure_point withheld: {NO_THRESHOLD}"
    assert checks["label_release_precision"].passed and checks["label_release_coverage"].passed
    assert not blocked.asset_materializations_for_node("label_release_export")
    assert not _folder(warehouse, D2).exists()
    assert {p.name: p.read_bytes() for p in _folder(warehouse, D1).iterdir()} == published
    assert latest_release(warehouse / "exports") == _folder(warehouse, D1)

    alone = _materialize(warehouse, D2, assets=[label_release_export])
    assert "label_release_required_labels: day blocked: required label failure_point" in _failure(alone)
    assert not _folder(warehouse, D2).exists()

    # with no label required the same day goes out without its failure points
    relaxed = _materialize(warehouse, D2, {"required_labels": []})
    assert relaxed.success, _failure(relaxed)
    table, manifest = read_release(latest_release(warehouse / "exports"))
    assert manifest["date"] == "2026-11-02" and manifest["withheld"] == {"failure_point": NO_THRESHOLD}
    assert table["failure_point"].null_count() == 60 and table["intent"].null_count() == 4


def test_cross_fit_chooses_on_one_half_and_reports_the_other(warehouse):
    # the holdout sessions of D1 fall in halves A = {0, 1, 4, 7, 9}, B = {2, 3, 5, 6, 8} (see `audit_half`);
    # the wrong turns are in sessions 2, 4, 7, 9: A has 3 of its 10 turns wrong (0.6), B 1 of 10.
    holdout, _ = _sessions(D1)
    assert [i for i, s in enumerate(holdout) if audit_half(s) == "A"] == [0, 1, 4, 7, 9]
    result = _materialize(warehouse, D1, default_split=True)  # cross-fitting is the default
    assert result.success, _failure(result)
    quality = _query(warehouse, "SELECT * FROM releases.release_quality WHERE day = $d", {"d": D1})
    row = quality.filter(pl.col("label") == "intent").row(0, named=True)
    assert row["split"] == "A/B" and row["threshold"] == 0.9 and row["target"] == pytest.approx(0.9)
    assert (row["audit_turns"], row["audit_released"], row["precision"]) == (10, 7, 1.0)
    assert (row["heldout_turns"], row["heldout_released"], row["precision_heldout"]) == (10, 9, 1.0)
    assert row["precision_heldout_low"] == pytest.approx(wilson_low(9, 9))
    _, manifest = read_release(_folder(warehouse, D1))
    assert manifest["quality"]["intent"]["precision_heldout"] == 1.0
    assert manifest["quality"]["intent"]["precision_heldout_low_95"] == pytest.approx(wilson_low(9, 9))
    assert "Cross-fitted" in (_folder(warehouse, D1) / "DATACARD.md").read_text()


def test_drift_against_the_previous_release_can_block(warehouse):
    assert _materialize(warehouse, D1).success
    # day 2: the 30 turns nobody audits change
    with duckdb.connect(str(warehouse / "warehouse.duckdb")) as con:
        audited = [e for (e,) in con.execute("SELECT DISTINCT event_id FROM ingest.annotations").fetchall()]
    unaudited = ~pl.col("event_id").is_in(audited)
    _rewrite_day(
        warehouse,
        "turn_labels",
        D2,
        intent=pl.when(unaudited).then(pl.lit("weather.get")).otherwise("intent"),
    )
    warned = _materialize(warehouse, D2)  # drift warns by default, and the release goes out
    drift = {e.check_name: e for e in warned.get_asset_check_evaluations()}["label_release_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    # released intents: day 1 46 music.play + 10 weather.get, day 2 16 + 40: TVD = 30/56
    assert f"intent {30 / 56:.3f}" in drift.description
    assert drift.description.endswith("(a warning: drift_blocking is off, the release is published)")
    assert drift.metadata["drift_intent"].value == round(30 / 56, 3)
    assert "| intent | 0.536 | 0.200 | no |" in drift.metadata["per_label"].value
    assert warned.success and _folder(warehouse, D2).exists()
    assert read_release(_folder(warehouse, D2))[1]["checks"]["warnings"] == ["label_release_drift"]

    blocked = _materialize(warehouse, D2, {"drift_blocking": True})
    drift = {e.check_name: e for e in blocked.get_asset_check_evaluations()}["label_release_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.ERROR
    assert drift.description.endswith("(drift_blocking: the release is not published)")
    assert not blocked.asset_materializations_for_node("label_release_export")


def test_a_day_with_few_gold_turns_is_measured_on_the_window(warehouse):
    result = _materialize(warehouse, D2, {"audit_min_turns": 25}, assets=[label_release])
    assert result.success, _failure(result)
    build = _query(warehouse, "SELECT audit_source, audit_days, audit_turns FROM releases.release_builds")
    assert build.row(0) == ("window", [D1, D2], 40)


def test_missing_inputs_fail_with_a_reason(selflearn_home):
    with duckdb.connect(str(selflearn_home / "warehouse.duckdb")) as con:
        run_sql(con, "ingest/schema.sql")
        label_views(con, _lake(selflearn_home))
        _add_day(con, _lake(selflearn_home), D1, with_failure_points=False)
        _add_day(con, _lake(selflearn_home), D2, with_gold=False)
    _pass_ingestion_gates(selflearn_home, D1, D2)
    no_points = _materialize(selflearn_home, D1, assets=[label_release])
    assert "no failure_points rows for 2026-11-01; materialize failure_points" in _failure(no_points)
    no_gold = _materialize(selflearn_home, D2, assets=[label_release])
    assert "no gold-annotated turn of an audit-holdout session" in _failure(no_gold)
    bad = _materialize(
        selflearn_home, D2, {"precision_target": "human", "coverage_floor": 2}, assets=[label_release]
    )
    assert 'precision_target must be "annotator" or a number' in _failure(bad)
    assert "coverage_floor must be in [0, 1]" in _failure(bad)
    unknown = _materialize(selflearn_home, D2, {"required_labels": ["failure"]}, assets=[label_release])
    assert "required_labels must be among goal_start" in _failure(unknown)


def _shuffle_gold(home, day: date, seed: int = 0) -> dict:
    """Shuffle `day`'s gold labels among its turns, task by task (the annotator's stay); returns the original
    labels by (event_id, task) to put them back."""
    rng, original = random.Random(seed), {}
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        for task in LABELS:
            rows = con.execute(
                "SELECT event_id, label::VARCHAR FROM ingest.annotations "
                "WHERE day = ? AND is_gold AND task = ? ORDER BY event_id",
                [day, task],
            ).fetchall()
            labels = [label for _, label in rows]
            rng.shuffle(labels)
            original |= {(event, task): label for event, label in rows}
            _set_gold(
                con, day, {(event, task): label for (event, _), label in zip(rows, labels, strict=True)}
            )
    return original


def _set_gold(con, day: date, labels: dict) -> None:
    con.executemany(
        "UPDATE ingest.annotations SET label = ?::JSON WHERE day = ? AND is_gold AND event_id = ? AND task = ?",
        [(label, day, event, task) for (event, task), label in labels.items()],
    )


def _holdout_agreement(home, day: date, task: str) -> float:
    """Gold vs the single annotator on the day's audit-holdout turns, straight from ingest.annotations."""
    holdout, _ = _sessions(day)
    return _query(
        home,
        "SELECT avg((g.label::VARCHAR = a.label::VARCHAR)::INT) AS agreement FROM ingest.annotations g "
        "JOIN ingest.annotations a ON a.event_id = g.event_id AND a.task = g.task AND a.annotator = 'ann_1' "
        "JOIN ingest.clean_turns t ON t.event_id = g.event_id "
        "WHERE g.day = $day AND g.is_gold AND g.task = $task AND list_contains($holdout, t.session_id)",
        {"day": day, "task": task, "holdout": holdout},
    )["agreement"][0]


def test_shuffled_gold_blocks_the_day_and_the_previous_release_stays(warehouse):
    assert _materialize(warehouse, D1).success
    published = {p.name: p.read_bytes() for p in _folder(warehouse, D1).iterdir()}
    _, first = read_release(_folder(warehouse, D1))
    assert first["gold"]["labels"]["intent"] == {
        "agreement": pytest.approx(0.9),
        "turns": 20,
        "previous": None,
        "previous_day": None,
        "verdict": "passed",
        "problem": None,
    }

    # only goal start varies in this gold (the first turn of each session), so only it is moved by the shuffle
    original = _shuffle_gold(warehouse, D2)
    shuffled = _holdout_agreement(warehouse, D2, "goal_start")
    assert shuffled < 0.7 and _holdout_agreement(warehouse, D2, "intent") == pytest.approx(0.9)
    blocked = _materialize(warehouse, D2)
    checks = {e.check_name: e for e in blocked.get_asset_check_evaluations()}
    gold = checks["label_release_gold"]
    assert not gold.passed and gold.severity == dg.AssetCheckSeverity.ERROR
    assert gold.description == (
        "day blocked: the audit gold disagrees with the single annotator: "
        f"goal_start {shuffled:.3f} under the floor 0.70 on 20 turns, down from 0.900 (release of 2026-11-01) "
        f"to {shuffled:.3f}, a drop of {0.9 - shuffled:.3f} > 0.15"
    )
    assert [name for name, e in checks.items() if not e.passed] == ["label_release_gold"]  # the only one
    assert not blocked.asset_materializations_for_node("label_release_export")
    assert not _folder(warehouse, D2).exists()
    assert latest_release(warehouse / "exports") == _folder(warehouse, D1)
    assert {p.name: p.read_bytes() for p in _folder(warehouse, D1).iterdir()} == published

    # the annotator's precision fell with the gold: the precision floor, not it, sets goal start's target
    quality = _query(warehouse, "SELECT * FROM releases.release_quality WHERE day = $d", {"d": D2})
    row = quality.filter(pl.col("label") == "goal_start").row(0, named=True)
    assert row["annotator_precision"] == pytest.approx(shuffled)
    assert row["gold_agreement"] == pytest.approx(shuffled)
    assert (row["target"], row["target_source"], row["precision_floor"]) == (0.8, "floor", 0.8)
    assert (row["status"], row["reason"]) == (
        "withheld",
        "no threshold reaches precision 0.800 on 20 audit turns (the precision floor; the single annotator's "
        f"precision is {shuffled:.3f})",
    )
    assert (row["gold_agreement_previous"], row["gold_previous_day"]) == (pytest.approx(0.9), D1)

    # publishing on its own re-evaluates the gold gate and refuses
    alone = _materialize(warehouse, D2, assets=[label_release_export])
    assert "label_release_gold: day blocked: the audit gold disagrees" in _failure(alone)
    assert "the release in place stays" in _failure(alone) and not _folder(warehouse, D2).exists()

    # with the gold put back, the same day is published, compared with the release of D1
    with duckdb.connect(str(warehouse / "warehouse.duckdb")) as con:
        _set_gold(con, D2, original)
    fixed = _materialize(warehouse, D2)
    assert fixed.success, _failure(fixed)
    assert latest_release(warehouse / "exports") == _folder(warehouse, D2)
    table, manifest = read_release(_folder(warehouse, D2))
    assert manifest["withheld"] == {} and table["goal_start"].null_count() == 4
    assert {label: g["verdict"] for label, g in manifest["gold"]["labels"].items()} == dict.fromkeys(
        LABELS, "passed"
    )
    assert manifest["gold"]["labels"]["goal_start"]["previous_day"] == "2026-11-01"
    assert manifest["quality"]["goal_start"]["target_source"] == "annotator"  # 0.9 is over the floor
    assert manifest["precision_floors"] == dict.fromkeys(LABELS, 0.8)
    card = (_folder(warehouse, D2) / "DATACARD.md").read_text()
    assert "| goal_start | 0.900 | 20 | 0.900 (2026-11-01) | passed |" in card


def test_precision_floors_are_run_config(warehouse):
    # every audit turn of slots at 0.6: precision 0.8 (16 of 20), enough for a fixed target of 0.7 but not for
    # a slots floor of 0.85; the other labels' target is the default floor 0.8, over the fixed 0.7
    _set_confidence(warehouse, "turn_labels", "slots", D1, 0.6)
    result = _materialize(warehouse, D1, {"precision_target": "0.7", "precision_floors": {"slots": 0.85}})
    assert result.success, _failure(result)
    quality = _query(
        warehouse,
        "SELECT label, target, target_source, precision_floor, status, reason FROM releases.release_quality",
    )
    rows = {r["label"]: r for r in quality.iter_rows(named=True)}
    assert (rows["intent"]["target"], rows["intent"]["target_source"], rows["intent"]["status"]) == (
        0.8,
        "floor",
        "released",
    )
    reason = (
        "no threshold reaches precision 0.850 on 20 audit turns (the precision floor; the single annotator's "
        "precision is 0.900)"
    )
    assert (rows["slots"]["precision_floor"], rows["slots"]["status"], rows["slots"]["reason"]) == (
        0.85,
        "withheld",
        reason,
    )
    floors = {**dict.fromkeys(LABELS, 0.8), "slots": 0.85}
    assert (
        result.asset_materializations_for_node("label_release")[0].metadata["precision_floors"].value
        == floors
    )
    table, manifest = read_release(_folder(warehouse, D1))
    assert manifest["precision_floors"] == floors and manifest["withheld"] == {"slots": reason}
    assert table["slots"].null_count() == 60
    card = (_folder(warehouse, D1) / "DATACARD.md").read_text()
    assert "Precision floors: goal_start 0.800, goal_success 0.800, intent 0.800, slots 0.850" in card
    assert f"- **slots**: {reason}" in card and "| 0.800 (floor) |" in card

    bad = _materialize(warehouse, D1, {"precision_floors": {"slot": 0.7}, "gold_agreement_floor": 2})
    assert "precision_floors must name labels among goal_start" in _failure(bad)
    assert "gold_agreement_floor must be in [0, 1], got 2" in _failure(bad)

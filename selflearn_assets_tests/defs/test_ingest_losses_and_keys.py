"""Ingestion through Dagster on real files: a day that lost a whole file is blocked with the rate in the gate's
message, an empty read never replaces a day with rows, a key change is refused until `selflearn rotate-key`,
the default key warns, and event ids reused across days are flagged (issue 12, items 2 and 5)."""

import gzip
import json
import warnings
from datetime import date

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from selflearn_assets import cli
from selflearn_assets.defs.ingest.assets import raw_turns
from selflearn_assets.defs.ingest.checks import ingest_accounting
from selflearn_assets.defs.ingest.reuse_checks import event_ids_unique_across_days
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.lib.ingest import key_fingerprint
from selflearn_assets.lib.settings import DEMO_ENV, DEV_PSEUDONYM_KEY
from selflearn_assets_tests.conftest import write_lines

DAY1, DAY2 = date(2026, 11, 1), date(2026, 11, 2)


def _resources(home, key="k", **config):
    return {
        "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
        "selflearn": SelflearnConfig(home=str(home), raw_root=str(home / "raw"), pseudonym_key=key, **config),
    }


def _good(i: int, day: date = DAY2) -> dict:
    return {
        "event_id": f"e{i}", "session_id": f"s{i // 3}", "user_id": f"u{i % 4}", "device_id": "d1",
        "ts": f"{day}T10:{i % 60:02d}:00+00:00", "asr_text": "what's the weather", "response_status": "success",
    }


def _count(home, sql, params=()):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchone()[0]


def _failure(result) -> str:
    return "\n".join(e.step_failure_data.error.message for e in result.get_step_failure_events())


def _materialize(home, day: date, assets, **resources):
    return dg.materialize(
        assets, partition_key=day.isoformat(), resources=_resources(home, **resources), raise_on_error=False
    )


def test_a_day_that_lost_a_gzip_file_is_blocked_and_the_gate_says_by_how_much(selflearn_home):
    folder = selflearn_home / "raw" / f"date={DAY2}"
    write_lines(folder / "part-00000.jsonl", [_good(i) for i in range(10)])
    rest = "".join(json.dumps(_good(i)) + "\n" for i in range(10, 200)).encode()
    (folder / "part-00001.jsonl.gz").write_bytes(gzip.compress(rest)[:-20])
    result = _materialize(selflearn_home, DAY2, [raw_turns, ingest_accounting])

    [check] = result.get_asset_check_evaluations()
    lost = check.metadata["lines_lost_estimate"].value
    assert 185 <= lost <= 189  # the file held 190 lines: ~what decompresses before the cut, less its own row
    rate = (1 + lost) / (11 + lost)
    assert not check.passed
    assert check.description == (
        f"quarantine rate {rate:.1%} (incl. ~{lost:,} lines estimated lost in unreadable part-00001.jsonl.gz) "
        "> limit 5.0%"
    )
    quarantine = {
        m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("raw_turns")
    }["quarantined_turns"]
    assert "part-00001.jsonl.gz" in quarantine["files_not_read"].value
    assert quarantine["quarantine_rate"].value == round(rate, 3)  # rounded for the UI


def test_an_empty_read_does_not_replace_a_day_with_rows_unless_allowed(selflearn_home):
    folder = selflearn_home / "raw" / f"date={DAY2}"
    write_lines(folder / "part-0.jsonl", [_good(i) for i in range(10)])
    assert _materialize(selflearn_home, DAY2, [raw_turns]).success
    (folder / "part-0.jsonl").rename(folder / "part-0.json")

    result = _materialize(selflearn_home, DAY2, [raw_turns])
    assert not result.success
    message = _failure(result)
    assert "2026-11-02: refusing to replace the day's 10 clean rows with an empty day" in message
    assert "part-0.json skipped" in message and "allow_empty_replace: true" in message
    assert "Traceback" not in message
    assert _count(selflearn_home, "SELECT count(*) FROM ingest.clean_turns") == 10

    assert _materialize(selflearn_home, DAY2, [raw_turns], allow_empty_replace=True).success
    assert _count(selflearn_home, "SELECT count(*) FROM ingest.clean_turns") == 0
    assert _count(selflearn_home, "SELECT any_value(reason) FROM ingest.quarantined_turns") == "skipped_file"


def test_a_key_change_is_refused_until_the_rotation_is_declared(selflearn_home, monkeypatch, capsys):
    for day in (DAY1, DAY2):
        write_lines(selflearn_home / "raw" / f"date={day}" / "part-0.jsonl", [_good(i, day) for i in range(5)])
    assert _materialize(selflearn_home, DAY1, [raw_turns], key="old-secret").success

    refused = _materialize(selflearn_home, DAY2, [raw_turns], key="new-secret")
    old, new = key_fingerprint("old-secret"), key_fingerprint("new-secret")
    assert f"pseudonym key changed since 2026-11-01 (fingerprint {old} → {new})" in _failure(refused)
    assert _count(selflearn_home, "SELECT count(*) FROM ingest.clean_turns WHERE day = ?", [DAY2]) == 0

    monkeypatch.setenv("SELFLEARN_PSEUDONYM_KEY", "new-secret")
    assert cli.main(["rotate-key", "--old-fingerprint", "0123456789ab"]) == 2  # not a key any day was ingested with
    assert "no day was ingested with a key of fingerprint 0123456789ab" in capsys.readouterr().err
    monkeypatch.setenv("OLD_SELFLEARN_KEY", "old-secret")
    assert cli.main(["rotate-key", "--old-key-env", "OLD_SELFLEARN_KEY"]) == 0
    out = capsys.readouterr().out
    assert f"declared pseudonym key rotation {old} -> {new}" in out and "not comparable" in out

    accepted = _materialize(selflearn_home, DAY2, [raw_turns], key="new-secret")
    assert accepted.success
    clean = {m.asset_key.to_user_string(): m.metadata for m in accepted.asset_materializations_for_node("raw_turns")}
    assert clean["clean_turns"]["pseudonym_key_fingerprint"].value == new
    assert clean["clean_turns"]["pseudonym_key"].value == "set"


def test_the_default_key_warns_on_every_run_outside_the_demo(selflearn_home, monkeypatch):
    write_lines(selflearn_home / "raw" / f"date={DAY2}" / "part-0.jsonl", [_good(i) for i in range(3)])
    monkeypatch.delenv(DEMO_ENV, raising=False)
    for _ in range(2):
        with pytest.warns(UserWarning, match="SELFLEARN_PSEUDONYM_KEY is not set"):
            result = _materialize(selflearn_home, DAY2, [raw_turns], key=DEV_PSEUDONYM_KEY)
        metadata = result.asset_materializations_for_node("raw_turns")[0].metadata
        assert metadata["pseudonym_key"].value == "default (insecure)"

    monkeypatch.setenv(DEMO_ENV, "1")  # what `selflearn demo` sets
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _materialize(selflearn_home, DAY2, [raw_turns], key=DEV_PSEUDONYM_KEY).success
    assert not [w for w in caught if "SELFLEARN_PSEUDONYM_KEY" in str(w.message)]


def test_event_ids_reused_on_another_day_are_a_warning(selflearn_home):
    write_lines(selflearn_home / "raw" / f"date={DAY1}" / "part-0.jsonl", [_good(i, DAY1) for i in range(5)])
    write_lines(selflearn_home / "raw" / f"date={DAY2}" / "part-0.jsonl", [_good(i, DAY2) for i in range(3, 8)])
    first = _materialize(selflearn_home, DAY1, [raw_turns, event_ids_unique_across_days])
    [check] = first.get_asset_check_evaluations()
    assert check.passed and check.metadata["reused_event_ids"].value == 0

    second = _materialize(selflearn_home, DAY2, [raw_turns, event_ids_unique_across_days])
    assert second.success  # a warning, not a gate: both days keep their rows
    [check] = second.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["reused_event_ids"].value == 2  # e3 and e4
    assert check.description == "2 event id(s) of 2026-11-02 also appear on 2026-11-01"
    assert "e3" in check.metadata["sample"].value

"""Privacy at ingestion: device ids pseudonymised, no raw id in quarantined text or nested in `extra`, the key's
fingerprint recorded per day and a key change refused until the rotation is declared (issue 12, item 5)."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from selflearn_assets.lib.ingest import (
    KeyChangedError,
    build_sessions,
    declare_rotation,
    ingest_turns,
    key_fingerprint,
)
from selflearn_assets.lib.ingest.pseudonym_keys import ROTATION_MEANING, recorded_fingerprints
from selflearn_assets.lib.settings import DEMO_ENV, DEV_PSEUDONYM_KEY, default_key_warning
from selflearn_assets_tests.lib.test_ingest import (
    DAY,
    KEY,
    all_text,
    day_dir,
    ingest,
    pseudonym,
    turn,
    write_lines,
)

ALICE, DEVICE = "alice@example.com", "echo-kitchen-00042"
DAY2, DAY3 = date(2026, 1, 6), date(2026, 1, 7)


@pytest.fixture
def con(tmp_path_factory):
    """A warehouse file in a folder of its own: the clean and quarantined turns go to the lake beside it."""
    connection = duckdb.connect(str(tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"))
    yield connection
    connection.close()


def test_device_ids_are_pseudonymised_like_user_ids(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1, device_id=DEVICE), turn(2, device_id=DEVICE), turn(3)])
    ingest(con, tmp_path)
    build_sessions(con, DAY)
    devices = dict(con.execute("SELECT event_id, device_id FROM ingest.clean_turns").fetchall())
    assert devices == {"e1": pseudonym(DEVICE), "e2": pseudonym(DEVICE), "e3": pseudonym("d1")}
    assert con.execute("SELECT DISTINCT device_id FROM ingest.sessions").fetchall() == [(pseudonym(DEVICE),)]
    assert DEVICE not in all_text(con)


def test_nested_identifiers_in_extra_are_pseudonymised(tmp_path, con):
    record = turn(
        1,
        device_id=DEVICE,
        meta={"user_id": ALICE, "device_id": DEVICE, "n": 1},
        history=[{"user_id": ALICE}],
        owner={"user_id": {"email": ALICE}},
    )
    write_lines(day_dir(tmp_path) / "a.jsonl", [record])
    assert ingest(con, tmp_path).clean_rows == 1
    extra = json.loads(con.execute("SELECT extra FROM ingest.clean_turns").fetchone()[0])
    assert extra == {
        "meta": {"user_id": pseudonym(ALICE), "device_id": pseudonym(DEVICE), "n": 1},
        "history": [{"user_id": pseudonym(ALICE)}],
        "owner": {"user_id": "redacted"},  # an id that is not a plain value is dropped
    }
    assert ALICE not in all_text(con) and DEVICE not in all_text(con)


def over_the_limit() -> str:
    """A line whose first 10,000 characters end inside the nested user id: `..."user_id": "alice`."""
    unpadded = json.dumps(turn(5, response_text="", meta={"user_id": ALICE}))
    pad = 10_000 - 5 - unpadded.rindex(ALICE)
    line = json.dumps(turn(5, response_text="y" * pad, meta={"user_id": ALICE}))
    assert line[:10_000].endswith('"user_id": "alice')
    return line


QUARANTINED_LINES = [
    # valid JSON, rejected: ids at the top and nested, a number id
    json.dumps(turn(4, wake_score=9, device_id=DEVICE, extra={"user_id": ALICE, "device_id": 12345})),
    # not JSON: the pairs are found in the text all the same
    f'{{"user_id": "{ALICE}", "device_id":"{DEVICE}", "x": {{"user_id": "{ALICE}"',
    # a line over the limit (10,000 characters kept), cut inside the value of a nested user_id
    over_the_limit(),
]


def test_quarantined_raw_text_keeps_no_raw_identifier(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), *QUARANTINED_LINES])
    stats = ingest(con, tmp_path, max_line_bytes=10_000)
    assert stats.quarantined_by_reason == {"out_of_range": 1, "invalid_json": 1, "line_too_long": 1}
    raws = [r for (r,) in con.execute("SELECT raw FROM ingest.quarantined_turns ORDER BY source_line").fetchall()]
    for raw in raws:
        assert "alice" not in raw and "echo-kitchen" not in raw and "12345" not in raw
    assert f'"device_id": "{pseudonym(DEVICE)}"' in raws[0] and f'"user_id": "{pseudonym(ALICE)}"' in raws[0]
    assert raws[1] == (
        f'{{"user_id": "{pseudonym(ALICE)}", "device_id":"{pseudonym(DEVICE)}", "x": {{"user_id": "{pseudonym(ALICE)}"'
    )
    assert len(raws[2]) == 10_000 and raws[2].startswith('{"event_id": "e5"')


def test_the_key_fingerprint_is_recorded_per_day_and_never_the_key(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1)])
    ingest(con, tmp_path)
    [(day, fingerprint)] = con.execute("SELECT day, fingerprint FROM ingest.key_fingerprints").fetchall()
    assert (day, fingerprint) == (DAY, key_fingerprint(KEY)) and len(fingerprint) == 12
    assert key_fingerprint(KEY) != key_fingerprint("another-key")
    assert KEY not in all_text(con) + str(con.execute("SELECT * FROM ingest.key_fingerprints").fetchall())


def _three_days(root) -> None:
    for day in (DAY, DAY2, DAY3):
        write_lines(day_dir(root, day) / "a.jsonl", [turn(1, ts=f"{day}T10:00:00Z")])


def test_a_key_change_is_refused_until_the_rotation_is_declared(tmp_path, con):
    _three_days(tmp_path)
    ingest_turns(con, tmp_path, DAY, "old-key")
    with pytest.raises(KeyChangedError) as err:
        ingest_turns(con, tmp_path, DAY2, "new-key")
    old, new = key_fingerprint("old-key"), key_fingerprint("new-key")
    assert f"2026-01-06: pseudonym key changed since 2026-01-05 (fingerprint {old} → {new})" in str(err.value)
    assert f"selflearn rotate-key --old-fingerprint {old}" in str(err.value)
    assert con.execute("SELECT count(*) FROM ingest.clean_turns WHERE day = ?", [DAY2]).fetchone() == (0,)

    rotation = declare_rotation(con, old, new)
    assert rotation.meaning == ROTATION_MEANING and "not comparable" in ROTATION_MEANING
    assert ingest_turns(con, tmp_path, DAY2, "new-key").clean_rows == 1
    assert recorded_fingerprints(con) == [(DAY, old), (DAY2, new)]
    # the same customer has another pseudonym on each side of the rotation
    users = dict(con.execute("SELECT day, user_id FROM ingest.clean_turns").fetchall())
    assert users == {DAY: pseudonym(ALICE, "old-key"), DAY2: pseudonym(ALICE, "new-key")}

    # a rotation is one way: going back to the old key after it is another change
    with pytest.raises(KeyChangedError, match=f"{new} → {old}"):
        ingest_turns(con, tmp_path, DAY3, "old-key")


def test_an_earlier_day_cannot_be_rekeyed_behind_a_later_one(tmp_path, con):
    _three_days(tmp_path)
    ingest_turns(con, tmp_path, DAY2, "old-key")
    with pytest.raises(KeyChangedError, match="the later day"):
        ingest_turns(con, tmp_path, DAY, "new-key")
    assert ingest_turns(con, tmp_path, DAY, "old-key").clean_rows == 1  # the same key is fine
    assert ingest_turns(con, tmp_path, DAY2, "old-key").clean_rows == 1  # and so is re-ingesting with it


def test_the_default_key_warns_outside_the_demo(monkeypatch):
    monkeypatch.delenv(DEMO_ENV, raising=False)
    assert "SELFLEARN_PSEUDONYM_KEY is not set" in default_key_warning(DEV_PSEUDONYM_KEY)
    assert default_key_warning("a-secret-of-our-own") is None
    monkeypatch.setenv(DEMO_ENV, "1")
    assert default_key_warning(DEV_PSEUDONYM_KEY) is None

"""Ingestion of raw turn logs, sessions and annotations, on small hand-made inputs in temp folders."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selflearn_assets.lib import sql as sql_module
from selflearn_assets.lib.ingest import (
    MissingPartitionError,
    RawRootError,
    build_sessions,
    discover_partitions,
    ingest_annotations,
    ingest_turns,
)
from selflearn_assets.lib.ingest import lines as lines_module
from selflearn_assets.lib.ingest import turns as turns_module
from selflearn_assets.lib.ingest.lines import LINES_SCHEMA
from selflearn_assets.lib.ingest.schema import ensure_ingest_schema

DAY = date(2026, 1, 5)
KEY = "test-key"


def turn(n: int = 1, **fields) -> dict:
    """A valid contract record; `fields` override or add keys (None values are kept as JSON null)."""
    record = {
        "event_id": f"e{n}",
        "session_id": "s1",
        "user_id": "alice@example.com",
        "device_id": "d1",
        "ts": f"2026-01-05T10:00:{n % 60:02d}+00:00",
        "asr_text": "play imagine dragons",
    }
    record.update(fields)
    return record


def write_lines(path: Path, lines: list, *, newline_at_end: bool = True) -> Path:
    """Write dicts as JSON lines and str/bytes as they are (gzip-compressed for *.gz)."""
    chunks = [
        line if isinstance(line, bytes) else (line if isinstance(line, str) else json.dumps(line)).encode()
        for line in lines
    ]
    data = b"\n".join(chunks) + (b"\n" if newline_at_end and chunks else b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def day_dir(root: Path, day: date = DAY) -> Path:
    return root / f"date={day.isoformat()}"


@pytest.fixture
def con(tmp_path_factory):
    """A warehouse file in a folder of its own: the clean and quarantined turns go to the lake beside it."""
    connection = duckdb.connect(str(tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"))
    yield connection
    connection.close()


def ingest(con, root: Path, day: date = DAY, **kwargs):
    stats = ingest_turns(con, root, day, KEY, **kwargs)
    assert stats.lines_read == stats.clean_rows + stats.quarantined_rows  # nothing lost, ever
    row = con.execute(
        "SELECT lines_read, clean_rows, quarantined_rows FROM ingest.partition_stats WHERE day = ?", [day]
    ).fetchone()
    assert row == (stats.lines_read, stats.clean_rows, stats.quarantined_rows)
    return stats


def pseudonym(raw_id: str, key: str = KEY) -> str:
    """The keyed hash of macros.sql, worked out independently."""
    return hashlib.sha256(f"{key}:{raw_id}".encode()).hexdigest()[:16]


def quarantined(con, day: date = DAY) -> list[tuple]:
    return con.execute(
        "SELECT source_file, source_line, reason, detail, raw, event_id FROM ingest.quarantined_turns "
        "WHERE day = ? ORDER BY source_file, source_line",
        [day],
    ).fetchall()


# --- partitions and the raw root -------------------------------------------------------------------


def test_discover_partitions_lists_day_folders_only(tmp_path):
    for name in ["date=2026-01-06", "date=2026-01-05", "annotations", "date=2026-02-30", "notes"]:
        (tmp_path / name).mkdir()
    (tmp_path / "annotations" / "date=2026-01-05").mkdir()
    assert discover_partitions(tmp_path) == [date(2026, 1, 5), date(2026, 1, 6)]


def test_missing_raw_root_is_a_clear_error(tmp_path, con):
    missing = tmp_path / "nowhere"
    for call in (
        lambda: discover_partitions(missing),
        lambda: ingest_turns(con, missing, DAY, KEY),
        lambda: ingest_annotations(con, missing, DAY),
    ):
        with pytest.raises(RawRootError, match="SELFLEARN_RAW_ROOT") as err:
            call()
        assert str(missing) in str(err.value)


def test_missing_day_folder_is_refused_not_emptied(tmp_path, con):
    (tmp_path / "date=2026-01-04").mkdir()
    with pytest.raises(MissingPartitionError, match="2026-01-05"):
        ingest_turns(con, tmp_path, DAY, KEY)


# --- typed columns ---------------------------------------------------------------------------------


def test_typed_columns_round_trip(tmp_path, con):
    full = turn(
        1,
        ts="2026-01-05T12:30:00.250+02:00",
        device_type="screen",
        locale="de-DE",
        wake_score=0.9,
        asr_confidence=1,
        asr_nbest=[
            {"text": "play imagine dragons", "score": 0.8},
            {"text": "play maj and dragons", "score": 0.1},
        ],
        nlu_domain="music",
        nlu_intent="PlayMusicIntent",
        nlu_slots=[{"name": "artist", "value": "imagine dragons"}],
        nlu_confidence=0.75,
        er_status="resolved",
        er_entity_id="artist/123",
        response_text="Playing Imagine Dragons.",
        response_status="success",
        response_duration_ms=1800,
        barge_in=False,
        explicit_feedback="positive",
        device_state={"media": "playing", "oven": "on"},
        rewrite_applied={
            "rewrite_id": "r1",
            "source_text": "maj and dragons",
            "rewrite_text": "imagine dragons",
            "layer": "global",
        },
        audio_uri="s3://a/1.wav",
        experiment={"arm": "B", "ids": [1, 2]},
        client_version="4.2",
    )
    minimal = {k: v for k, v in turn(2, ts=1767614400123).items()}  # epoch ms: 2026-01-05 12:00:00.123 UTC
    write_lines(day_dir(tmp_path) / "a.jsonl", [full, minimal])
    stats = ingest(con, tmp_path)
    assert (stats.clean_rows, stats.quarantined_rows, stats.files) == (2, 0, ["date=2026-01-05/a.jsonl"])

    cursor = con.execute("SELECT * FROM ingest.clean_turns WHERE event_id = 'e1'")
    row = SimpleNamespace(**dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True)))
    assert row.ts == datetime(2026, 1, 5, 10, 30, 0, 250000)  # converted to UTC
    assert row.locale == "de-DE" and row.device_type == "screen" and row.asr_confidence == 1.0
    assert [dict(x) for x in row.asr_nbest] == full["asr_nbest"]
    assert [dict(x) for x in row.nlu_slots] == full["nlu_slots"]
    assert row.device_state == full["device_state"]
    assert dict(row.rewrite_applied) == full["rewrite_applied"]
    assert json.loads(row.extra) == {"experiment": {"arm": "B", "ids": [1, 2]}, "client_version": "4.2"}
    assert (row.response_duration_ms, row.barge_in, row.explicit_feedback) == (1800, False, "positive")
    assert (row.source_file, row.source_line) == ("date=2026-01-05/a.jsonl", 1)

    ts, locale, extra, nbest = con.execute(
        "SELECT ts, locale, extra, asr_nbest FROM ingest.clean_turns WHERE event_id = 'e2'"
    ).fetchone()
    assert ts == datetime(2026, 1, 5, 12, 0, 0, 123000)
    assert (locale, extra, nbest) == ("en-US", None, None)  # locale defaults to en-US


def test_column_types_match_the_warehouse_schema(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1)])
    ingest(con, tmp_path)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'clean_turns'"
        ).fetchall()
    )
    assert types["asr_nbest"] == 'STRUCT("text" VARCHAR, score DOUBLE)[]'
    assert types["device_state"] == "MAP(VARCHAR, VARCHAR)"
    assert types["extra"] == "JSON" and types["ts"] == "TIMESTAMP"


# --- every bad input is quarantined with its reason ---------------------------------------------------

BAD_LINES = [
    ('{"event_id": "e9", "session_id": ', "invalid_json", "not valid JSON"),
    ("[1, 2, 3]", "not_an_object", "a list"),
    ('"just a string"', "not_an_object", "a string"),
    ({k: v for k, v in turn(9).items() if k not in ("session_id", "ts")}, "missing_field", "session_id, ts"),
    (turn(9, event_id=""), "missing_field", "event_id"),
    (turn(9, user_id=None), "missing_field", "user_id"),
    (turn(9, asr_text=None), "missing_field", "asr_text"),
    (turn(9, event_id=123), "bad_type", "event_id must be a string, got an integer"),
    (turn(9, wake_score="0.5"), "bad_type", "wake_score must be a number, got a string"),
    (turn(9, response_duration_ms=1.5), "bad_type", "response_duration_ms must be an integer"),
    (turn(9, barge_in="yes"), "bad_type", "barge_in must be a boolean"),
    (turn(9, asr_nbest={"text": "a", "score": 0.5}), "bad_type", "asr_nbest must be a list"),
    (
        turn(9, asr_nbest=[{"text": "a"}]),
        "bad_type",
        "asr_nbest must be a list of {text: string, score: number}",
    ),
    (turn(9, asr_nbest=[{"text": "a", "score": "high"}]), "bad_type", "asr_nbest"),
    (turn(9, nlu_slots=[["artist", "x"]]), "bad_type", "nlu_slots"),
    (turn(9, device_state=["on"]), "bad_type", "device_state must be an object"),
    (turn(9, rewrite_applied={"rewrite_id": "r"}), "bad_type", "rewrite_applied"),
    (turn(9, ts=True), "bad_type", "ts must be an ISO-8601 string or integer epoch milliseconds"),
    (turn(9, ts=1767614400123.5), "bad_type", "ts must be"),
    (turn(9, ts="yesterday at noon"), "bad_timestamp", "yesterday at noon"),
    (turn(9, ts="2026-01-05T10:00:00"), "bad_timestamp", "UTC offset"),  # naive: ambiguous
    (turn(9, ts="2026-01-05"), "bad_timestamp", "2026-01-05"),
    (turn(9, ts="2026-13-45T10:00:00Z"), "bad_timestamp", "2026-13-45"),
    (turn(9, ts="2026-01-06T00:00:00Z"), "partition_mismatch", "falls on 2026-01-06"),
    (turn(9, ts="2026-01-05T01:00:00+03:00"), "partition_mismatch", "falls on 2026-01-04"),
    (turn(9, ts=1767571199999), "partition_mismatch", "2026-01-04"),  # 1 ms before midnight
    (turn(9, wake_score=1.5), "out_of_range", "wake_score = 1.5 is outside 0..1"),
    (turn(9, asr_confidence=-0.1), "out_of_range", "asr_confidence"),
    (turn(9, nlu_confidence=2), "out_of_range", "nlu_confidence"),
    (turn(9, asr_nbest=[{"text": "a", "score": 1.2}]), "out_of_range", "asr_nbest has a score outside 0..1"),
    (turn(9, response_duration_ms=-5), "out_of_range", "response_duration_ms = -5"),
    (turn(9, response_duration_ms=2**64 - 1), "out_of_range", "response_duration_ms"),
    (turn(9, device_type="watch"), "bad_value", "device_type 'watch' is not one of speaker"),
    (turn(9, er_status="maybe"), "bad_value", "er_status"),
    (turn(9, response_status="ok"), "bad_value", "response_status 'ok'"),
    (turn(9, explicit_feedback="meh"), "bad_value", "explicit_feedback"),
]


@pytest.mark.parametrize(
    ("line", "reason", "detail"), BAD_LINES, ids=[f"{r}-{i}" for i, (_, r, _) in enumerate(BAD_LINES)]
)
def test_bad_line_is_quarantined_with_its_reason(tmp_path, con, line, reason, detail):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), line, turn(3)])
    stats = ingest(con, tmp_path)
    assert (stats.lines_read, stats.clean_rows, stats.quarantined_rows) == (3, 2, 1)
    assert stats.quarantined_by_reason == {reason: 1}
    [(source_file, source_line, got_reason, got_detail, raw, _)] = quarantined(con)
    assert (source_file, source_line, got_reason) == ("date=2026-01-05/a.jsonl", 2, reason)
    assert detail in got_detail
    assert raw is not None and "alice@example.com" not in raw  # raw kept, customer id redacted
    if isinstance(line, str):
        assert raw == line


def test_blank_lines_count_and_a_final_newline_does_not(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), "", "   \t", turn(4)])
    write_lines(day_dir(tmp_path) / "b.jsonl", [turn(5), turn(6)], newline_at_end=False)
    stats = ingest(con, tmp_path)
    assert (stats.lines_read, stats.clean_rows) == (6, 4)
    assert [(q[1], q[2]) for q in quarantined(con)] == [(2, "blank_line"), (3, "blank_line")]


def test_crlf_line_endings_and_a_byte_order_mark_are_fine(tmp_path, con):
    data = b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(turn(i)).encode() for i in (1, 2)) + b"\r\n"
    day_dir(tmp_path).mkdir(parents=True)
    (day_dir(tmp_path) / "a.jsonl").write_bytes(data)
    assert ingest(con, tmp_path).clean_rows == 2


def test_empty_file_contributes_nothing_but_is_listed(tmp_path, con):
    write_lines(day_dir(tmp_path) / "empty.jsonl", [])
    write_lines(day_dir(tmp_path) / "one.jsonl", [turn(1)])
    stats = ingest(con, tmp_path)
    assert stats.files == ["date=2026-01-05/empty.jsonl", "date=2026-01-05/one.jsonl"]
    assert (stats.lines_read, stats.clean_rows, stats.quarantined_rows) == (1, 1, 0)


def test_an_empty_day_folder_gives_an_empty_day(tmp_path, con):
    day_dir(tmp_path).mkdir()
    stats = ingest(con, tmp_path)
    assert (stats.files, stats.lines_read) == ([], 0)


def test_non_utf8_bytes_quarantine_only_that_line(tmp_path, con):
    bad = b'{"event_id": "e2", "asr_text": "caf\xe9 \xff"}'
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), bad, turn(3)])
    stats = ingest(con, tmp_path)
    assert (stats.clean_rows, stats.quarantined_by_reason) == (2, {"invalid_utf8": 1})
    [(_, line, _, _, raw, _)] = quarantined(con)
    assert line == 2 and raw == '{"event_id": "e2", "asr_text": "caf\ufffd \ufffd"}'


def test_a_one_megabyte_text_field_is_accepted(tmp_path, con):
    big = "x" * 1_000_000
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1, response_text=big), turn(2)])
    stats = ingest(con, tmp_path)
    assert stats.clean_rows == 2
    assert con.execute(
        "SELECT length(response_text) FROM ingest.clean_turns WHERE event_id = 'e1'"
    ).fetchone() == (1_000_000,)


def test_a_line_over_the_limit_is_quarantined_with_a_prefix(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), turn(2, response_text="y" * 50_000)])
    stats = ingest(con, tmp_path, max_line_bytes=20_000)
    assert stats.quarantined_by_reason == {"line_too_long": 1}
    [(_, _, _, detail, raw, _)] = quarantined(con)
    assert raw.startswith('{"event_id": "e2"') and len(raw) <= 10_000 and "over the limit of 20000" in detail


@pytest.mark.parametrize("batch_bytes", [1, 1 << 30], ids=["file-by-file", "one-batch"])
def test_many_small_files_are_batched_without_mixing_them_up(tmp_path, con, monkeypatch, batch_bytes):
    monkeypatch.setattr(turns_module, "BATCH_BYTES", batch_bytes)
    for f in range(12):
        lines = [turn(10 * f + i) for i in range(3)]
        lines[f % 3] = "{bad" if f % 4 == 0 else lines[f % 3]
        write_lines(day_dir(tmp_path) / f"part-{f:02d}.jsonl", lines)
    stats = ingest(con, tmp_path)
    assert (stats.lines_read, stats.quarantined_rows) == (36, 3)
    assert [(q[0][-13:], q[1]) for q in quarantined(con)] == [
        ("part-00.jsonl", 1),
        ("part-04.jsonl", 2),
        ("part-08.jsonl", 3),
    ]
    kept = con.execute(
        "SELECT event_id, source_file, source_line FROM ingest.clean_turns WHERE event_id = 'e71'"
    )
    assert kept.fetchall() == [("e71", "date=2026-01-05/part-07.jsonl", 2)]


def sql_files_run(monkeypatch) -> list[str]:
    """The dbt_like_sql files ingest_turns runs, in order (recorded as it runs them)."""
    ran = []

    def recording(con, name, params=None):
        ran.append(name)
        return sql_module.run_sql(con, name, params)

    monkeypatch.setattr(turns_module, "run_sql", recording)
    return ran


def test_one_batch_of_mixed_files_quarantines_exactly_the_rejected_lines(tmp_path, con, monkeypatch):
    """Valid lines go in with the batch's one validating pass; only the rejected lines of the batch (here at
    the start, middle and end of files of every format) are looked up and validated again."""
    monkeypatch.setattr(turns_module, "BATCH_BYTES", 1 << 30)
    ran = sql_files_run(monkeypatch)
    folder = day_dir(tmp_path)
    write_lines(folder / "a.jsonl", [turn(1), turn(2), turn(3)])  # all valid
    write_lines(folder / "b.jsonl", ["{bad", turn(5), turn(6, wake_score=2), turn(7), ""])
    write_lines(folder / "c.jsonl.gz", [turn(8), turn(9, device_type="watch")])
    write_lines(folder / "d.jsonl", [])
    (folder / "e.jsonl.gz").write_bytes(b"not gzip")
    rows = [turn(10), turn(11, asr_text=None)]
    pq.write_table(pa.Table.from_pylist(rows), folder / "f.parquet")
    write_lines(folder / "g.jsonl", ["[1]"])  # a file of nothing but a rejected line
    stats = ingest(con, tmp_path)
    assert ran.count("ingest/clean_turns.sql") == ran.count("ingest/quarantined_turns.sql") == 1
    assert [(q[0].split("/")[-1], q[1], q[2]) for q in quarantined(con)] == [
        ("b.jsonl", 1, "invalid_json"),
        ("b.jsonl", 3, "out_of_range"),
        ("b.jsonl", 5, "blank_line"),
        ("c.jsonl.gz", 2, "bad_value"),
        ("e.jsonl.gz", 0, "unreadable_file"),
        ("f.parquet", 2, "missing_field"),
        ("g.jsonl", 1, "not_an_object"),
    ]
    kept = con.execute(
        "SELECT event_id, source_file, source_line FROM ingest.clean_turns ORDER BY 2, 3"
    ).fetchall()
    assert [(e, f.split("/")[-1], n) for e, f, n in kept] == [
        ("e1", "a.jsonl", 1),
        ("e2", "a.jsonl", 2),
        ("e3", "a.jsonl", 3),
        ("e5", "b.jsonl", 2),
        ("e7", "b.jsonl", 4),
        ("e8", "c.jsonl.gz", 1),
        ("e10", "f.parquet", 1),
    ]
    assert (stats.lines_read, stats.clean_rows, stats.quarantined_rows) == (14, 7, 7)


def test_a_batch_without_rejected_lines_is_validated_once(tmp_path, con, monkeypatch):
    ran = sql_files_run(monkeypatch)
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(i) for i in range(5)])
    write_lines(day_dir(tmp_path) / "b.jsonl", [turn(i) for i in range(5, 9)])
    assert ingest(con, tmp_path).clean_rows == 9
    assert ran.count("ingest/clean_turns.sql") == 1
    assert "ingest/clean_lines.sql" not in ran and "ingest/quarantined_turns.sql" not in ran


def test_the_validation_filter_stays_above_the_json_parsing(con):
    """`WHERE is_clean` must not be pushed down into validated_turns: DuckDB would copy the reason expression,
    and the JSON functions under it, into the filter once per field reference (a many-fold slowdown)."""
    ensure_ingest_schema(con)
    sql_module.run_sql(con, "ingest/day_tables.sql")  # the day's temp tables the INSERTs write
    con.register("turn_lines", LINES_SCHEMA.empty_table())
    con.register(
        "turn_files",
        pa.table({"file_idx": pa.array([], pa.int32()), "source_file": [], "read_error": [], "file_reason": []}),
    )
    sql_module.run_sql(con, "ingest/macros.sql")
    sql_module.run_sql(con, "ingest/validated_turns.sql")
    sql_module.run_sql(con, "ingest/fast_validated_turns.sql")
    params = {"day": DAY, "pseudonym_key": KEY, "max_line_bytes": 100}

    def filters(node) -> list[str]:
        own = [node["extra_info"]["Expression"]] if node.get("name") == "FILTER" else []
        return own + [f for child in node.get("children", []) for f in filters(child)]

    for name, expected in [
        ("ingest/clean_turns.sql", "is_clean"),
        ("ingest/clean_turns_rechecked.sql", "is_clean"),
        ("ingest/quarantined_turns.sql", "(NOT is_clean)"),
    ]:
        [statement] = sql_module.statements(sql_module.load_sql(name))
        [(_, plan)] = con.execute("EXPLAIN (FORMAT json) " + statement, params).fetchall()
        assert [f for root in json.loads(plan) for f in filters(root)] == [expected], name


def test_the_callers_connection_settings_are_left_alone(tmp_path, con):
    before = con.execute("SELECT name, value FROM duckdb_settings() ORDER BY name").fetchall()
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), "{bad"])
    ingest(con, tmp_path)
    assert con.execute("SELECT name, value FROM duckdb_settings() ORDER BY name").fetchall() == before


REPLACEMENTS = [
    None,
    "",
    "x",
    "0.5",
    "true",
    0,
    1,
    -1,
    0.5,
    1.5,
    2**63,
    True,
    [],
    ["a"],
    {},
    {"a": "b"},
    [{"text": "a"}],
    [{"text": "a", "score": 2}],
    [{"name": "n", "value": 1}],
    {"source_text": "a"},
    "2026-01-05T10:00:00Z",
    "2026-01-05T10:00:00",
    1767614400123,
    "speaker",
    "watch",
    "positive",
]


def test_randomly_damaged_lines_each_get_one_consistent_verdict(tmp_path, con):
    """Lines with random fields replaced, dropped or added: every line is accounted for, a clean line keeps
    its unknown fields in `extra`, and a rejected line's detail names the field(s) behind its reason."""
    rng = random.Random(5)
    fields = list(turn(0, device_type="tv", wake_score=0.5, asr_nbest=[], nlu_slots=[], device_state={}))
    lines = []
    for n in range(400):
        record = turn(n, device_type="tv", wake_score=0.5, asr_nbest=[{"text": "a", "score": 0.5}])
        for _ in range(rng.choice([0, 1, 1, 2])):
            action = rng.random()
            if action < 0.6:
                record[rng.choice(fields)] = rng.choice(REPLACEMENTS)
            elif action < 0.8:
                record.pop(rng.choice(fields), None)
            else:
                record[f"unknown_{rng.randrange(3)}"] = rng.choice(REPLACEMENTS)
        lines.append(record)
    write_lines(day_dir(tmp_path) / "a.jsonl", lines)
    stats = ingest(con, tmp_path)
    assert stats.clean_rows > 50 and stats.quarantined_rows > 50
    for line, extra in con.execute("SELECT source_line, extra FROM ingest.clean_turns").fetchall():
        unknown = {k: v for k, v in lines[line - 1].items() if k.startswith("unknown_")}
        assert (json.loads(extra) if extra else {}) == unknown
    field_reasons = {"missing_field", "bad_type", "out_of_range", "bad_value"}
    for _, _, reason, detail, _, _ in quarantined(con):
        if reason in field_reasons:
            assert any(f in detail for f in fields), (reason, detail)


# --- the first, cheaper pass (fast_validated_turns.sql) ----------------------------------------------


def both_passes(con, lines: list[str]) -> list[tuple[dict, dict]]:
    """Each line through the first pass and through the full validation: (fast row, full row) per line."""
    con.register(
        "turn_lines",
        pa.table(
            {
                "file_idx": pa.array([0] * len(lines), pa.int32()),
                "line": pa.array(range(1, len(lines) + 1), pa.int64()),
                "text": pa.array(lines, pa.large_string()),
                "bad_utf8": pa.array([False] * len(lines)),
            }
        ),
    )
    for name in ("ingest/macros.sql", "ingest/validated_turns.sql", "ingest/fast_validated_turns.sql"):
        sql_module.run_sql(con, name)

    def rows(macro: str) -> list[dict]:
        cur = con.execute(f"SELECT * FROM {macro}(?, ?, ?) ORDER BY line", [DAY, KEY, 1 << 20])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    return list(zip(rows("fast_validated_turns"), rows("validated_turns"), strict=True))


def assert_fast_pass_agrees(pairs) -> None:
    """A line the first pass takes in is valid, with exactly the values the full validation gives it."""
    for fast, full in pairs:
        if fast["is_clean"]:
            assert full["is_clean"], (fast, full["reason"], full["detail"])
            assert repr(fast) == repr({k: full[k] for k in fast}), (fast, full)  # repr: NaN-safe


def raw(record: dict, **overrides: str) -> str:
    """A JSON line with some values written as raw JSON text (for NaN, Infinity, escapes, duplicates)."""
    text = json.dumps(record, separators=(",", ":"))
    return text[:-1] + "".join(f',"{k}":{v}' for k, v in overrides.items()) + "}"


LOOKALIKE_STRINGS = (
    "0.5",
    "NaN",
    "-Infinity",
    "1e400",
    "true",
    "null",
    "[1]",
    "{}",
    '{"a": 1}',
    "7:30",
    "-",
    "inf",
)
NON_STRINGS = (0.5, -1, True, [1], {"a": 1}, [], {})
RAW_NUMBERS = (
    "NaN",
    "-Infinity",
    "Infinity",
    "nan",
    "-nan",
    "1e400",
    "-0",
    "1.0",
    "1e3",
    "18446744073709551616",
)
TIMESTAMPS = (
    1767614400123,
    "1767614400123",
    1767614400123.0,
    17676144001230000,
    "2026-01-05T10:00:00.5+01:00",
    "2026-01-05T10:00:00",
    -1,
    0,
)
NESTED_VALUES = (
    None,
    "[]",
    "{}",
    [],
    {},
    1,
    [None],
    [{}],
    [[1]],
    {"text": "a", "score": 1},
    {"k": None},
    {"k": 1.5},
    {"k": [1]},
    [{"text": "a", "score": 0.5, "x": 1}],
    [{"name": "n", "value": 2}],
    {"source_text": "a", "rewrite_text": "b"},
    {"source_text": "a", "rewrite_text": None},
)
HEAD = '{"event_id":"e1","session_id":"s1","user_id":"u","device_id":"d",'
TRICKY_LINES = [
    # strings that read like other JSON values are strings; the values they read like are not
    *[
        json.dumps(turn(1, **{f: v}))
        for f in ("event_id", "user_id", "asr_text", "nlu_intent", "er_entity_id")
        for v in LOOKALIKE_STRINGS
    ],
    *[
        json.dumps(turn(1, **{f: v}))
        for f in ("device_id", "asr_text", "locale", "er_entity_id", "audio_uri")
        for v in NON_STRINGS
    ],
    *[
        raw(turn(1), **{f: v})
        for f in ("asr_text", "wake_score", "response_duration_ms", "ts")
        for v in RAW_NUMBERS
    ],
    *[json.dumps(turn(1, wake_score=v)) for v in ("0.5", True, None, 0, 1, 0.1, 1e-300, [0.5])],
    *[
        json.dumps(turn(1, response_duration_ms=v))
        for v in (0, 5, 1.0, 1.5, "5", -0.0, 2**63 - 1, 2**63, None)
    ],
    *[json.dumps(turn(1, barge_in=v)) for v in (True, False, "true", 1, 0, None, [True])],
    *[json.dumps(turn(1, ts=v)) for v in TIMESTAMPS],
    HEAD + '"ts":"2026-01-05T10:00:00\\u002b00:00","asr_text":"a"}',
    HEAD + '"ts":"2026-01-05T10:00:00Z","asr_text":"\\u00e9\\"q\\""}',
    # nested fields: null, absent, of another type, or with members missing, null or of another type
    *[
        json.dumps(turn(1, **{f: v}))
        for f in ("asr_nbest", "nlu_slots", "device_state", "rewrite_applied")
        for v in NESTED_VALUES
    ],
    HEAD + '"ts":1767614400123,"asr_text":"a","device_state":{"k":"1","k":"2"}}',
    # keys: unknown, null-valued unknown, duplicated, escaped, differently cased
    raw(turn(1), x="null"),
    raw(turn(1), x='{"ts":null}', y="[1]"),
    raw(turn(1), asr_text='"again"'),
    raw(turn(1), wake_score='"0.5"'),
    raw({"wake_score": 0.5, **turn(1)}, wake_score='"0.5"'),
    raw(turn(1), **{"asr\\u005fnbest": "5", "Event_id": '"x"', "wake_score ": "7"}),
    raw(turn(1), device_state='{"er_entity_id":null}', x="1"),
    # not a plain object line
    " " + json.dumps(turn(1)),
    json.dumps(turn(1)) + " ",
    "[" + json.dumps(turn(1)) + "]",
    json.dumps(turn(1))[:-1] + ",}",
    json.dumps(turn(1))[:-1] + ', "x": }',
    '{"event_id": "e1" "session_id": "s1"}',
]


def test_the_fast_pass_never_takes_in_a_line_the_full_validation_rejects_or_types_differently(con):
    assert_fast_pass_agrees(both_passes(con, TRICKY_LINES))


def test_the_fast_pass_agrees_on_randomly_damaged_lines(con):
    rng = random.Random(11)
    fields = list(turn(0, device_type="tv", wake_score=0.5, asr_nbest=[], nlu_slots=[], device_state={}))
    lines = []
    for n in range(2000):
        record = turn(n, device_type="tv", wake_score=0.5, asr_nbest=[{"text": "a", "score": 0.5}])
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            action = rng.random()
            if action < 0.6:
                record[rng.choice(fields)] = rng.choice(REPLACEMENTS + ["NaN", "12:30", "[1]", None, 1e400])
            elif action < 0.8:
                record.pop(rng.choice(fields), None)
            else:
                record[rng.choice(["unknown_0", "unknown_1", "ts "])] = rng.choice(REPLACEMENTS)
        lines.append(json.dumps(record, separators=rng.choice([(",", ":"), (", ", ": ")])))
    pairs = both_passes(con, lines)
    assert_fast_pass_agrees(pairs)
    assert sum(fast["is_clean"] for fast, _ in pairs) > 300  # the first pass does take lines in


def test_common_shapes_of_valid_lines_take_the_fast_pass(con):
    """What contract-true producers write: every field or few, nulls, unknown fields, epoch ms, numeric ids,
    spaces, escaped non-ASCII text. All of it goes through the first pass alone."""
    full = turn(
        1,
        device_type="tv",
        locale="de-DE",
        wake_score=0.9,
        asr_confidence=1,
        asr_nbest=[{"text": "a", "score": 0}],
        nlu_domain="music",
        nlu_intent="play",
        nlu_slots=[{"name": "n", "value": "v"}],
        nlu_confidence=0.5,
        er_status="resolved",
        er_entity_id="artist:12",
        response_text="Playing “Song” at 7:30.",
        response_status="success",
        response_duration_ms=1200,
        barge_in=False,
        explicit_feedback="negative",
        device_state={"media": "playing"},
        rewrite_applied={"rewrite_id": "r", "source_text": "a", "rewrite_text": "b", "layer": "x"},
        audio_uri="s3://bucket/a:b.wav",
    )
    nulls = {k: (v if k in turn(1) else None) for k, v in full.items()}
    lines = [
        json.dumps(turn(1)),
        json.dumps(full),
        json.dumps(full, ensure_ascii=False, separators=(",", ":")),
        json.dumps(nulls),
        json.dumps(turn(1, ts=1767614400123, app_version="1.2", experiment={"arm": None})),
        json.dumps(turn(1, event_id="1767614400123", session_id="-1", user_id="42", er_entity_id="12:3")),
        json.dumps(turn(1, asr_text="crème brûlée", asr_nbest=[], nlu_slots=[], device_state={})) + "\r\n",
    ]
    pairs = both_passes(con, lines)
    assert_fast_pass_agrees(pairs)
    assert [fast["is_clean"] for fast, _ in pairs] == [True] * len(lines)
    assert json.loads(pairs[4][0]["extra"]) == {"app_version": "1.2", "experiment": {"arm": None}}


# --- duplicates ------------------------------------------------------------------------------------


def test_duplicate_event_ids_keep_the_first_copy(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), turn(2), turn(1)])  # same content, same file
    write_lines(day_dir(tmp_path) / "b.jsonl", [turn(2, asr_text="something else"), turn(1)])
    stats = ingest(con, tmp_path)
    assert (stats.lines_read, stats.clean_rows) == (5, 2)
    assert stats.quarantined_by_reason == {"duplicate_event_id": 2, "conflicting_duplicate_event_id": 1}
    kept = con.execute(
        "SELECT event_id, source_file, source_line, asr_text FROM ingest.clean_turns ORDER BY 1"
    ).fetchall()
    assert kept == [
        ("e1", "date=2026-01-05/a.jsonl", 1, "play imagine dragons"),
        ("e2", "date=2026-01-05/a.jsonl", 2, "play imagine dragons"),
    ]
    rows = [(q[0][-7:], q[1], q[2]) for q in quarantined(con)]
    assert rows == [
        ("a.jsonl", 3, "duplicate_event_id"),
        ("b.jsonl", 1, "conflicting_duplicate_event_id"),
        ("b.jsonl", 2, "duplicate_event_id"),
    ]
    details = {q[1] + 10 * (q[0].endswith("b.jsonl")): q for q in quarantined(con)}
    assert "already seen at date=2026-01-05/a.jsonl:2 with different content" in details[11][3]
    assert '"something else"' in details[11][4]  # the raw text of the copy is kept
    assert all("alice@example.com" not in q[4] for q in quarantined(con))


def test_a_duplicate_of_an_invalid_line_is_not_a_duplicate(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1, wake_score=7), turn(1)])
    stats = ingest(con, tmp_path)
    assert (stats.clean_rows, stats.quarantined_by_reason) == (1, {"out_of_range": 1})


# --- other formats and unreadable files ---------------------------------------------------------------


def test_gzip_files_are_read(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl.gz", [turn(1), "{broken", turn(3)])
    stats = ingest(con, tmp_path)
    assert (stats.clean_rows, stats.quarantined_by_reason) == (2, {"invalid_json": 1})


def test_corrupt_files_are_quarantined_and_named(tmp_path, con):
    folder = day_dir(tmp_path)
    write_lines(folder / "good.jsonl", [turn(1)])
    (folder / "bad.jsonl.gz").write_bytes(b"this is not gzip")
    (folder / "bad.parquet").write_bytes(b"PAR1 nonsense")
    truncated = gzip.compress(json.dumps(turn(2)).encode() * 100)[:-20]
    (folder / "truncated.jsonl.gz").write_bytes(truncated)
    stats = ingest(con, tmp_path)
    assert stats.clean_rows == 1
    assert stats.quarantined_by_reason == {"unreadable_file": 3}
    assert sorted(stats.unreadable_files) == sorted(
        f"date=2026-01-05/{n}" for n in ("bad.jsonl.gz", "bad.parquet", "truncated.jsonl.gz")
    )
    for source_file, line, _, detail, raw, _ in quarantined(con):
        assert line == 0 and raw is None and source_file.split("/")[-1] in detail


def test_parquet_rows_are_lines(tmp_path, con):
    rows = [turn(1), turn(2, wake_score=3.0), turn(3)]
    table = pa.Table.from_pylist(
        [
            {
                k: r.get(k)
                for k in ("event_id", "session_id", "user_id", "device_id", "asr_text", "wake_score")
            }
            for r in rows
        ]
    )
    stamps = [datetime(2026, 1, 5, 9, 0, i) for i in range(3)]  # naive timestamps are taken as UTC
    table = table.append_column("ts", pa.array(stamps, pa.timestamp("us")))
    day_dir(tmp_path).mkdir(parents=True)
    pq.write_table(table, day_dir(tmp_path) / "a.parquet")
    stats = ingest(con, tmp_path)
    assert (stats.clean_rows, stats.quarantined_by_reason) == (2, {"out_of_range": 1})
    assert quarantined(con)[0][1] == 2
    assert con.execute("SELECT ts FROM ingest.clean_turns WHERE event_id = 'e3'").fetchone() == (stamps[2],)


# --- pseudonymisation ------------------------------------------------------------------------------


def all_text(con) -> str:
    """Every value of every ingest table, as text."""
    tables = ["clean_turns", "quarantined_turns", "partition_stats", "sessions"]
    return "\n".join(str(r) for t in tables for r in con.execute(f"SELECT * FROM ingest.{t}").fetchall())


def test_user_ids_are_pseudonymised_everywhere(tmp_path, tmp_path_factory, con):
    write_lines(
        day_dir(tmp_path) / "a.jsonl",
        [
            turn(1),
            turn(2),
            turn(3, user_id="bob"),
            turn(4, wake_score=9),
            '{"user_id": "alice@example.com", "oops"',
        ],
    )
    ingest(con, tmp_path)
    build_sessions(con, DAY)
    hashes = dict(con.execute("SELECT event_id, user_id FROM ingest.clean_turns").fetchall())
    expected = hashlib.sha256(f"{KEY}:alice@example.com".encode()).hexdigest()[:16]
    assert hashes["e1"] == hashes["e2"] == expected != hashes["e3"]
    assert "alice@example.com" not in all_text(con) and "'bob'" not in all_text(con)
    raw_of_e4 = con.execute("SELECT raw FROM ingest.quarantined_turns WHERE event_id = 'e4'").fetchone()[0]
    assert expected in raw_of_e4  # the quarantined line carries the pseudonym instead

    other = duckdb.connect(str(tmp_path_factory.mktemp("other") / "warehouse.duckdb"))
    ingest_turns(other, tmp_path, DAY, "another-key")
    assert (
        other.execute("SELECT user_id FROM ingest.clean_turns WHERE event_id = 'e1'").fetchone()[0]
        != expected
    )


# --- idempotency and atomicity ---------------------------------------------------------------------


def snapshot(con) -> dict:
    return {
        t: sorted(
            map(
                str,
                con.execute(
                    f"SELECT * EXCLUDE ({'ingested_at' if t == 'partition_stats' else 'day'}) "
                    f"FROM ingest.{t} ORDER BY ALL"
                ).fetchall(),
            )
        )
        for t in ("clean_turns", "quarantined_turns", "partition_stats")
    }


def test_ingesting_a_day_twice_gives_identical_tables_and_leaves_other_days(tmp_path, con):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), "{bad", turn(1)])
    write_lines(day_dir(tmp_path, date(2026, 1, 6)) / "a.jsonl", [turn(1, ts="2026-01-06T08:00:00Z")])
    ingest(con, tmp_path, date(2026, 1, 6))
    con.execute("SELECT 42").fetchone()  # a caller's unfinished result does not get in the way
    ingest(con, tmp_path)
    first = snapshot(con)
    ingest(con, tmp_path)
    assert snapshot(con) == first
    counts = con.execute("SELECT day, count(*) FROM ingest.clean_turns GROUP BY day ORDER BY day").fetchall()
    assert counts == [(DAY, 1), (date(2026, 1, 6), 1)]


def test_a_crash_mid_way_leaves_the_previous_state(tmp_path, con, monkeypatch):
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1), turn(2)])
    ingest(con, tmp_path)
    before = snapshot(con)
    write_lines(day_dir(tmp_path) / "b.jsonl", [turn(3), "{bad"])

    def crash_on_stats(con, name, params=None):
        if name == "ingest/partition_stats.sql":
            raise RuntimeError("simulated crash")
        return sql_module.run_sql(con, name, params)

    monkeypatch.setattr(turns_module, "run_sql", crash_on_stats)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_turns(con, tmp_path, DAY, KEY)
    assert snapshot(con) == before
    monkeypatch.undo()
    assert ingest(con, tmp_path).clean_rows == 3  # and the connection is usable afterwards


def test_a_file_that_fails_to_read_mid_day_leaves_the_previous_state(tmp_path, con, monkeypatch):
    """Files are read one ahead on a helper thread; an error there still fails and rolls back the day."""
    write_lines(day_dir(tmp_path) / "a.jsonl", [turn(1)])
    ingest(con, tmp_path)
    before = snapshot(con)
    write_lines(day_dir(tmp_path) / "b.jsonl", [turn(2)])
    write_lines(day_dir(tmp_path) / "c.jsonl", [turn(3)])

    def failing(path, file_idx):
        if path.name == "c.jsonl":
            raise RuntimeError("disk on fire")
        return lines_module.read_lines(path, file_idx)

    monkeypatch.setattr(turns_module, "read_lines", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest_turns(con, tmp_path, DAY, KEY)
    assert snapshot(con) == before


# --- sessions ------------------------------------------------------------------------------------


def test_sessions_by_hand(tmp_path, con):
    s1 = [
        turn(1, session_id="s1", ts="2026-01-05T10:00:00Z", device_type="speaker", response_status="success"),
        turn(2, session_id="s1", ts="2026-01-05T10:00:30Z", barge_in=True, response_status="error"),
        turn(
            3,
            session_id="s1",
            ts="2026-01-05T10:01:10Z",
            response_status="clarify",
            explicit_feedback="negative",
            rewrite_applied={"source_text": "a", "rewrite_text": "b"},
        ),
    ]
    s2 = [
        turn(
            4,
            session_id="s2",
            user_id="bob",
            device_id="d9",
            ts="2026-01-05T23:59:59Z",
            response_status="unsupported",
        ),
        turn(
            5,
            session_id="s2",
            user_id="bob",
            device_id="d9",
            ts="2026-01-05T23:59:58Z",
            response_status="no_response",
            explicit_feedback="positive",
            device_type="car",
        ),
    ]
    write_lines(day_dir(tmp_path) / "a.jsonl", s1 + s2)
    ingest(con, tmp_path)
    assert build_sessions(con, DAY) == 2
    columns = (
        "session_id, device_id, device_type, start_ts, end_ts, n_turns, n_barge_in, n_error, n_clarify, "
    )
    columns += "n_explicit_negative, n_explicit_positive, n_rewritten, duration_s"
    rows = con.execute(f"SELECT {columns} FROM ingest.sessions ORDER BY 1").fetchall()
    at = lambda *hms: datetime(2026, 1, 5, *hms)  # noqa: E731
    # session, device, type, start, end, turns, barge-ins, errors, clarify, neg, pos, rewritten, seconds
    d1, d9 = (pseudonym(device) for device in ("d1", "d9"))  # device ids are pseudonymised like user ids
    assert rows == [
        ("s1", d1, "speaker", at(10, 0, 0), at(10, 1, 10), 3, 1, 1, 1, 1, 0, 1, 70.0),
        ("s2", d9, "car", at(23, 59, 58), at(23, 59, 59), 2, 0, 2, 0, 0, 1, 0, 1.0),
    ]
    users = dict(con.execute("SELECT session_id, user_id FROM ingest.sessions").fetchall())
    assert users["s2"] == pseudonym("bob")
    assert build_sessions(con, DAY) == 2 and con.execute(
        "SELECT count(*) FROM ingest.sessions"
    ).fetchone() == (2,)


# --- annotations -----------------------------------------------------------------------------------


def annotation(event_id="e1", task="intent", annotator="gold", label="music.play"):
    return {"event_id": event_id, "task": task, "annotator": annotator, "label": label}


def test_annotations_valid_of_every_task(tmp_path, con):
    lines = [
        annotation(task="failure_point", label="asr"),
        annotation(task="goal_start", label=True),
        annotation(task="goal_success", label=False, annotator="a1"),
        annotation(task="intent", label="music.PlayMusicIntent"),
        annotation(task="slots", label=[{"name": "artist", "value": "imagine dragons"}]),
        annotation(task="slots", label=[], annotator="a2"),
        annotation(task="rephrase_of", label=None),
        annotation(event_id="e2", task="rephrase_of", label="e1"),
        annotation(task="intended_text", label="play imagine dragons"),
        annotation(event_id="e3", task="preference", label={"key": "concept:study mode", "value": "set the lamp to 40%"}),
        annotation(event_id="e4", task="preference_use", label="concept:study mode"),
    ]
    write_lines(tmp_path / "annotations" / "date=2026-01-05" / "gold.jsonl", lines)
    stats = ingest_annotations(con, tmp_path, DAY)
    assert (stats.lines_read, stats.clean_rows, stats.quarantined_rows) == (11, 11, 0)
    rows = con.execute(
        "SELECT event_id, task, annotator, label, is_gold FROM ingest.annotations ORDER BY source_line"
    ).fetchall()
    assert rows[0] == ("e1", "failure_point", "gold", '"asr"', True)
    assert rows[2][2:] == ("a1", "false", False)
    assert json.loads(rows[4][3]) == [{"name": "artist", "value": "imagine dragons"}]
    assert rows[6][3] is None and rows[7][3] == '"e1"'
    assert json.loads(rows[9][3]) == {"key": "concept:study mode", "value": "set the lamp to 40%"}
    assert rows[10][3] == '"concept:study mode"'


BAD_ANNOTATIONS = [
    ("{nope", "invalid_json"),
    ("", "blank_line"),
    ("[]", "not_an_object"),
    ({"event_id": "e1", "task": "intent", "annotator": "gold"}, "missing_field"),
    (annotation(annotator=""), "missing_field"),
    (annotation(event_id=7), "bad_type"),
    (annotation(task="sentiment"), "unknown_task"),
    (annotation(task="failure_point", label="tts"), "bad_label"),
    (annotation(task="goal_start", label="yes"), "bad_label"),
    (annotation(task="intent", label="play"), "bad_label"),
    (annotation(task="slots", label=[{"name": "artist"}]), "bad_label"),
    (annotation(task="slots", label={"artist": "x"}), "bad_label"),
    (annotation(task="rephrase_of", label=""), "bad_label"),
    (annotation(task="intended_text", label=None), "bad_label"),
    (annotation(task="preference", label="team=warriors"), "bad_label"),
    (annotation(task="preference", label={"key": "", "value": "warriors"}), "bad_label"),
    (annotation(task="preference", label={"key": "team"}), "bad_label"),
    (annotation(task="preference_use", label=""), "bad_label"),
    (annotation(task="preference_use", label=["team"]), "bad_label"),
    (annotation(label="music.play"), "duplicate_annotation"),
    (annotation(label="music.stop"), "conflicting_duplicate_annotation"),
]


@pytest.mark.parametrize(
    ("line", "reason"), BAD_ANNOTATIONS, ids=[f"{r}-{i}" for i, (_, r) in enumerate(BAD_ANNOTATIONS)]
)
def test_bad_annotation_is_quarantined(tmp_path, con, line, reason):
    write_lines(tmp_path / "annotations" / "date=2026-01-05" / "a.jsonl", [annotation(), line])
    stats = ingest_annotations(con, tmp_path, DAY)
    assert (stats.lines_read, stats.clean_rows, stats.quarantined_by_reason) == (2, 1, {reason: 1})
    source_line, detail = con.execute(
        "SELECT source_line, detail FROM ingest.quarantined_annotations"
    ).fetchone()
    assert source_line == 2 and detail


def test_a_day_without_annotations_is_empty_not_an_error(tmp_path, con):
    (tmp_path / "date=2026-01-05").mkdir()
    stats = ingest_annotations(con, tmp_path, DAY)
    assert (stats.files, stats.lines_read, stats.clean_rows) == ([], 0, 0)


def test_annotations_are_replaced_per_day(tmp_path, con):
    folder = tmp_path / "annotations" / "date=2026-01-05"
    write_lines(folder / "a.jsonl", [annotation(), annotation(task="goal_start", label=True)])
    write_lines(tmp_path / "annotations" / "date=2026-01-06" / "a.jsonl", [annotation(event_id="e7")])
    ingest_annotations(con, tmp_path, date(2026, 1, 6))
    ingest_annotations(con, tmp_path, DAY)
    write_lines(folder / "a.jsonl", [annotation()])
    ingest_annotations(con, tmp_path, DAY)
    counts = con.execute("SELECT day, count(*) FROM ingest.annotations GROUP BY day ORDER BY day").fetchall()
    assert counts == [(DAY, 1), (date(2026, 1, 6), 1)]

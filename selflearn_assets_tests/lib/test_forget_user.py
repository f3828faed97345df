"""`selflearn forget-user` on a small world built through the assets: nothing of the user remains anywhere,
nothing of anyone else changes, a dry run changes nothing, a key the warehouse never knew is refused, and
forgetting twice is a no-op.

The world (built once, copied for each test): three simulated days of 150 users, half the sessions annotated.
Days 1 and 2 are ingested with the key OLD; then the rotation to NEW (the current key) is declared and day 3
is ingested with NEW, so the user has two pseudonyms. Each day goes through ingestion and its blocking gates,
sessions and the three signals assets; labels are written from the gold annotations (model-free stand-ins for
the label models: right wherever there is gold, 0.9 confident) and released through label_release and
label_release_export; the online ranker trains on the three days and days 2 (key OLD) and 3 (key NEW) are
exported as online bundles. The embedding store holds every turn's request and response, as the label models
embed them. The raw files of day 1 carry three extra lines that ingestion quarantines: one of the user's (a
valid object without asr_text: stored with their pseudonym), one with their raw id in single quotes (not JSON:
stored as written) and one of another user's. The runtime log holds what the user taught under each key, and
what another user taught. The user forgotten is the one with the most turns among those with turns on every
day. The raw logs are outside $SELFLEARN_HOME (they are the source system's: out of scope)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from selflearn_assets import cli
from selflearn_assets.defs.ingest.assets import annotations, raw_turns, sessions
from selflearn_assets.defs.ingest.checks import clean_turns_expectations, ingest_accounting
from selflearn_assets.defs.online.assets import (
    online_export,
    online_index_global,
    online_index_personal,
    online_ranker,
)
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
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource, SelflearnConfig
from selflearn_assets.defs.signals.assets import defect_signals, markov_transitions, rephrase_candidates
from selflearn_assets.lib.ingest import declare_rotation, key_fingerprint
from selflearn_assets.lib.ingest.schema import ensure_ingest_schema
from selflearn_assets.lib.labels.store import label_views, replace_day
from selflearn_assets.lib.lake import LAKE_TABLES, Lake
from selflearn_assets.lib.models.encoder import TurnEmbedder, tiny_encoder
from selflearn_assets.lib.models.label_data import SLOTS_TYPE
from selflearn_assets.lib.online.bundle import load_bundle
from selflearn_assets.lib.online.preferences import PreferenceStore, preferences_log
from selflearn_assets.lib.online.runtime import Rewriter, pseudonymize
from selflearn_assets.lib.online.serve import RewriterService
from selflearn_assets.lib.privacy import forget_user, runtime_log
from selflearn_assets.lib.privacy.runtime_log import forget_lines
from selflearn_assets.lib.privacy.warehouse import forget_rows
from selflearn_assets.lib.releases import read_release
from selflearn_assets.lib.settings import lake_root
from selflearn_assets.lib.simulator import SimConfig, simulate
from selflearn_assets.lib.sql import run_sql
from selflearn_assets.lib.warehouse_lock import WarehouseLockedError

START = date(2026, 11, 2)
DAYS = [START + timedelta(days=i) for i in range(3)]
OLD, NEW = "old-pseudonym-key", "new-pseudonym-key"
MIN_USERS = 2  # a small world: the online privacy rule at 2 users, so that the layers hold something
RANKER_CONFIG = {"min_samples_leaf": 5, "max_iter": 50, "min_users": MIN_USERS}
RELEASE_CONFIG = {"audit_min_turns": 10, "min_support": 1, "gold_min_turns": 20, "cross_fit": False}
RELEASE_ASSETS = [
    label_release,
    label_release_export,
    label_release_schema,
    label_release_accounts_for_every_turn,
    label_release_coverage,
    label_release_precision,
    label_release_gold,
    label_release_required_labels,
    label_release_drift,
]


@dataclass(frozen=True)
class World:
    home: Path
    raw: Path
    user: str  # the raw id of the user forgotten
    other: str  # another user, who taught something too

    def pseudonyms(self, user: str | None = None) -> set[str]:
        return {pseudonymize(OLD, user or self.user), pseudonymize(NEW, user or self.user)}


def _resources(home: Path, raw: Path, key: str, encoder: Path | None = None) -> dict:
    resources = {
        "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
        "selflearn": SelflearnConfig(home=str(home), raw_root=str(raw), pseudonym_key=key),
        "mlflow": MLflowResource(home=str(home)),
    }
    if encoder is not None:
        resources["encoder"] = EncoderConfig(path=str(encoder))
    return resources


def _choose_user(raw: Path) -> tuple[str, dict[str, set[str]]]:
    turns: Counter = Counter()
    days: dict[str, set[str]] = {}
    for path in sorted(raw.glob("date=*/*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            turns[rec["user_id"]] += 1
            days.setdefault(rec["user_id"], set()).add(path.parent.name)
    every_day = [u for u in turns if len(days[u]) == len(DAYS)]
    return max(every_day, key=lambda u: (turns[u], u)), days


def _quarantined_lines(raw: Path, user: str, other: str) -> None:
    """Three lines ingestion quarantines, in a file of their own under day 1."""
    base = {"session_id": "s-bad", "device_id": "d-bad", "ts": f"{DAYS[0]}T12:00:00Z"}
    lines = [
        json.dumps({**base, "event_id": "bad-user-1", "user_id": user}),  # no asr_text
        "{'event_id': 'bad-user-2', 'user_id': '" + user + "', 'asr_text': 'hello'}",  # not JSON
        json.dumps({**base, "event_id": "bad-other-1", "user_id": other}),
    ]
    (raw / f"date={DAYS[0]}" / "extra.jsonl").write_text("\n".join(lines) + "\n")


def _labels(con, lake: Lake, day: date) -> None:
    """The day's turn_labels and failure_points from gold (right wherever there is gold), 0.9 confident,
    published to the lake as the label assets publish them."""
    frame = con.sql(
        """SELECT t.event_id, t.session_id,
                  row_number() OVER (PARTITION BY t.session_id ORDER BY t.ts, t.event_id) = 1 AS first,
                  coalesce(t.nlu_domain || '.' || t.nlu_intent, 'unknown.unknown') AS nlu,
                  a.gold_goal_start, a.gold_goal_success, a.gold_intent, a.gold_slots, a.gold_failure_point
           FROM ingest.clean_turns AS t LEFT JOIN ingest.turn_annotations AS a USING (day, event_id)
           WHERE t.day = $day""",
        params={"day": day},
    ).pl()
    point = pl.coalesce("gold_failure_point", pl.lit("correct"))
    labels = frame.select(
        "event_id", "session_id", goal_id=pl.lit(1, pl.Int32),
        goal_start=pl.coalesce("gold_goal_start", "first"), goal_start_confidence=pl.lit(0.9),
        goal_success=pl.coalesce("gold_goal_success", pl.lit(True)), goal_success_confidence=pl.lit(0.9),
        intent=pl.coalesce("gold_intent", "nlu"), intent_confidence=pl.lit(0.9),
        slots=pl.coalesce(pl.col("gold_slots"), pl.lit([], SLOTS_TYPE)).cast(SLOTS_TYPE),
        slots_confidence=pl.lit(0.9),
    )  # fmt: skip
    classes = ("false_wake", "asr", "nlu", "er", "result", "correct")
    points = frame.select(
        "event_id", "session_id", failure_point=point, failure_point_confidence=pl.lit(0.9),
        **{f"p_{c}": pl.when(point == c).then(0.9).otherwise(0.02) for c in classes},
    )  # fmt: skip
    replace_day(lake, "turn_labels", labels, day, "1")
    replace_day(lake, "failure_points", points, day, "1")
    label_views(con, lake)


def _build_world(root: Path) -> World:
    home, raw = root / "home", root / "raw"
    home.mkdir(parents=True)
    simulate(SimConfig(users=150, start=START, days=len(DAYS), annotation_rate=0.5), raw, progress=False)
    user, days_of = _choose_user(raw)
    other = sorted(u for u in days_of if u != user)[0]
    _quarantined_lines(raw, user, other)
    warehouse = home / "warehouse.duckdb"
    for day in DAYS:
        key = OLD if day < DAYS[-1] else NEW
        if day == DAYS[-1]:
            with duckdb.connect(str(warehouse)) as con:
                ensure_ingest_schema(con)
                declare_rotation(con, key_fingerprint(OLD), key_fingerprint(NEW))
        result = dg.materialize(
            [raw_turns, sessions, annotations, clean_turns_expectations, ingest_accounting,
             defect_signals, rephrase_candidates, markov_transitions],
            partition_key=day.isoformat(), resources=_resources(home, raw, key),
        )  # fmt: skip
        assert result.success
    with duckdb.connect(str(warehouse)) as con:
        texts = con.sql(
            "SELECT coalesce(asr_text, '') AS u, coalesce(response_text, '') AS r FROM ingest.clean_turns"
        )
        utterances, responses = (list(c) for c in zip(*texts.fetchall(), strict=True))
        for day in DAYS:
            _labels(con, Lake(lake_root(warehouse)), day)
    tokenizer, model = tiny_encoder([t for t in utterances + responses if t])
    encoder = root / "encoder"  # stands for the pretrained encoder: not under the home
    tokenizer.save_pretrained(encoder)
    model.save_pretrained(encoder)
    store = TurnEmbedder(tokenizer, model, store_root=home / "embeddings")  # as the label models embed turns
    store(utterances)
    store(responses)
    for day in DAYS:
        key = OLD if day < DAYS[-1] else NEW
        released = dg.materialize(
            RELEASE_ASSETS, partition_key=day.isoformat(), resources=_resources(home, raw, key),
            run_config={"ops": {"label_release": {"config": RELEASE_CONFIG}}},
        )  # fmt: skip
        assert released.success
    trained = dg.materialize(
        [online_ranker], resources=_resources(home, raw, NEW, encoder),
        run_config={"ops": {"online_ranker": {"config": RANKER_CONFIG}}},
    )  # fmt: skip
    assert trained.success
    layer_assets = [online_index_global, online_index_personal, online_export]
    for day, key in ((DAYS[1], OLD), (DAYS[2], NEW)):
        built = dg.materialize(
            layer_assets, partition_key=day.isoformat(), resources=_resources(home, raw, key, encoder),
            run_config={"ops": {a.key.path[-1]: {"config": {"min_users": MIN_USERS}} for a in layer_assets}},
        )  # fmt: skip
        assert built.success
    log = preferences_log(home)
    Rewriter(None, None, OLD, preferences=PreferenceStore.load(log)).teach(
        user, "team", "Warriors", "teach-1"
    )
    taught = Rewriter(None, None, NEW, preferences=PreferenceStore.load(log))
    taught.teach(user, "concept:study mode", "set the desk lamp to 40%", "teach-2")
    taught.teach(other, "cuisine", "Italian", "teach-3")
    return World(home, raw, user, other)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return _build_world(tmp_path_factory.mktemp("forget_world"))


# --- what the tests look at ---------------------------------------------------------------------------------

RECOUNTED = ("signals.markov_transitions", "ingest.partition_stats", "releases.release_builds")


@pytest.fixture
def home(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the world's home, with the environment of `selflearn forget-user` run on it."""
    home = tmp_path / "home"
    shutil.copytree(world.home, home)
    monkeypatch.setenv("SELFLEARN_HOME", str(home))
    monkeypatch.setenv("SELFLEARN_RAW_ROOT", str(world.raw))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("SELFLEARN_PSEUDONYM_KEY", NEW)
    monkeypatch.setenv("OLD_KEY", OLD)
    return home


def _forget(*args: str) -> int:
    return cli.main(["forget-user", *args])


def _connect(home: Path):
    return duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)


def _tables(con) -> list[str]:
    """Every base table of the warehouse, from the catalog (not a list of ours), and the views over the lake's
    tables (whose rows are the lake's Parquet partitions)."""
    rows = con.execute(
        "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables "
        "WHERE (table_type = 'BASE TABLE' OR t IN (SELECT unnest(?::VARCHAR[]))) "
        "AND table_catalog = current_database() ORDER BY 1",
        [list(LAKE_TABLES)],
    ).fetchall()
    return [name for (name,) in rows]


def _rows(home: Path) -> dict[str, Counter]:
    """Every row of every table, as the JSON of the whole row (every column, nested ones included)."""
    with _connect(home) as con:
        return {t: Counter(r for (r,) in con.execute(f"SELECT to_json(x)::VARCHAR FROM {t} AS x").fetchall())
                for t in _tables(con)}  # fmt: skip


def _needles(home: Path, world: World) -> set[str]:
    """The user's pseudonyms, raw id and every event id of theirs the warehouse holds."""
    with _connect(home) as con:
        events = con.execute(
            "SELECT event_id FROM ingest.clean_turns WHERE user_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(world.pseudonyms())],
        ).fetchall()
    return {*world.pseudonyms(), world.user, "bad-user-1", *(e for (e,) in events)}


def _theirs(row: str, needles: set[str]) -> bool:
    return any(n in row for n in needles)


def _file_bytes(path: Path) -> bytes:
    """The bytes of a file, and of a Parquet file its decoded rows too."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        data += pl.read_parquet(path).write_ndjson().encode()
    return data


def _files(home: Path) -> dict[str, str]:
    """sha256 of every file under the home but the warehouse (DuckDB may rewrite its header on close)."""
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.startswith("warehouse.duckdb")
    }


def _store_texts(home: Path) -> Counter:
    shards = sorted((home / "embeddings").glob("*/*.parquet"))
    return Counter(t for s in shards for t in pl.read_parquet(s)["text"].to_list())


def _turn_texts(home: Path, pseudonyms: set[str]) -> tuple[set[str], set[str]]:
    """(texts of the user's turns, texts of everyone else's), as the encoder embeds them."""
    with _connect(home) as con:
        rows = con.execute(
            "SELECT user_id, coalesce(asr_text, ''), coalesce(response_text, '') FROM ingest.clean_turns"
        ).fetchall()
    theirs = {t for u, a, r in rows if u in pseudonyms for t in (a, r)}
    others = {t for u, a, r in rows if u not in pseudonyms for t in (a, r)}
    return theirs, others


def _released(home: Path) -> dict[date, pl.DataFrame]:
    out = {}
    for folder in sorted((home / "exports" / "labels").glob("date=*")):
        table, _ = read_release(folder)  # checks the sha256s and the row count
        out[date.fromisoformat(folder.name[5:])] = table
    return out


def _personal(home: Path) -> dict[date, tuple[pl.DataFrame, np.ndarray]]:
    out = {}
    for folder in sorted((home / "exports" / "online").glob("date=*")):
        bundle = load_bundle(folder)  # checks every file against the manifest's sha256
        out[date.fromisoformat(folder.name[5:])] = (
            bundle.layers.personal_entries,
            np.load(folder / "personal_vectors.npy"),
        )
    return out


def _log_users(home: Path) -> list[str]:
    return [
        json.loads(line)["user_id"] for line in preferences_log(home).read_text().splitlines() if line.strip()
    ]


# --- the tests ----------------------------------------------------------------------------------------------


def test_forget_user_leaves_nothing_of_theirs_and_changes_nothing_else(world, home, capsys):
    pseudonyms, needles = world.pseudonyms(), _needles(home, world)
    rows_before = _rows(home)
    theirs_texts, others_texts = _turn_texts(home, pseudonyms)
    store_before, released_before, personal_before = _store_texts(home), _released(home), _personal(home)

    # the world holds the user everywhere the command must look (else this test could not fail)
    holding = {t for t, rows in rows_before.items() if any(_theirs(r, needles) for r in rows)}
    assert {
        "ingest.clean_turns", "ingest.quarantined_turns", "ingest.sessions", "ingest.annotations",
        "signals.defect_signals", "signals.rephrase_candidates", "signals.markov_transitions",
        "labels.turn_labels", "labels.failure_points", "releases.label_release", "online.personal_entries",
    } <= holding  # fmt: skip
    quarantined = [r for r in rows_before["ingest.quarantined_turns"] if _theirs(r, needles)]
    assert len(quarantined) == 2 and any(world.user in r for r in quarantined)  # the raw id, as written
    # the raw id is in the quarantined lines' lake partition (so the byte check below can fail)
    quarantine_files = (home / "lake" / "ingest" / "quarantined_turns").rglob("data.parquet")
    assert any(world.user.encode() in _file_bytes(p) for p in quarantine_files)
    assert {p for p in pseudonyms if any(p in r for r in rows_before["ingest.clean_turns"])} == pseudonyms
    assert all(released_before[d]["event_id"].is_in(sorted(needles)).any() for d in DAYS)
    assert all(e["user_id"].is_in(sorted(pseudonyms)).any() for e, _ in personal_before.values())
    assert _log_users(home).count(pseudonymize(OLD, world.user)) == 1
    assert _log_users(home).count(pseudonymize(NEW, world.user)) == 1
    only_theirs = theirs_texts - others_texts
    assert only_theirs & set(store_before) and theirs_texts & others_texts & set(store_before)

    # a serving process that has them in memory: their taught concept and their personal entries
    service = RewriterService(home / "exports", NEW, poll_seconds=0)
    served = service.served.rewriter
    assert served.rewrite(world.user, "turn on study mode").rewrite == "set the desk lamp to 40%"
    assert pseudonymize(NEW, world.user) in served.bundle.layers.p_blocks

    assert _forget(world.user, "--old-key-env", "OLD_KEY") == 0
    out = capsys.readouterr().out
    assert f"user {world.user}: pseudonyms" in out and "nothing of" not in out
    their_rows = sum(int(t["event_id"].is_in(sorted(needles)).sum()) for t in released_before.values())
    assert f"label releases republished without their {their_rows} rows: {', '.join(map(str, DAYS))}" in out
    their_entries = sum(
        int(e["user_id"].is_in(sorted(pseudonyms)).sum()) for e, _ in personal_before.values()
    )
    assert (
        f"online exports rewritten without their {their_entries} personal entries: {DAYS[1]}, {DAYS[2]}"
        in out
    )
    assert "runtime log: removed 2 line(s)" in out and "warehouse file written afresh" in out
    # the signals' and labels' day tables live in the lake (the warehouse has views of them): each of their
    # days published again without their rows (the Markov transitions' days are recounted, checked below)
    theirs_in_lake = sum(
        _theirs(r, needles) for t in LAKE_TABLES if t not in RECOUNTED for r in rows_before[t].elements()
    )
    assert f"lake: removed {theirs_in_lake:,} rows, each day published again without them" in out

    # no row of any table carries a pseudonym, event id or the raw id of theirs (every column, every table)
    rows_after = _rows(home)
    left = {t: n for t, rows in rows_after.items() if (n := sum(_theirs(r, needles) for r in rows))}
    assert left == {}
    # no file under the home holds any of them: not the warehouse file's bytes, not a Parquet file's rows
    files = [p for p in home.rglob("*") if p.is_file()]
    assert [str(p) for p in files if any(n.encode() in _file_bytes(p) for n in needles)] == []

    # everyone else's rows are as they were: exactly theirs went, table by table
    for table, before in rows_before.items():
        if table in RECOUNTED:
            continue
        kept = Counter({r: n for r, n in before.items() if not _theirs(r, needles)})
        assert rows_after[table] == kept, table
    _check_recounted(home, world, rows_before, rows_after, needles)
    with _connect(home) as con:  # the days stay readable downstream: their gates still hold
        assert con.sql("SELECT day, readable FROM ingest.day_status ORDER BY day").fetchall() == [
            (d, True) for d in DAYS
        ]

    # embeddings: their texts are gone unless someone else said them; nothing else changed
    assert _store_texts(home) == Counter({t: n for t, n in store_before.items() if t not in only_theirs})

    # the released files of every day: their rows gone, the others' as published
    released_after = _released(home)
    for day, before in released_before.items():
        assert released_after[day].equals(before.filter(~pl.col("event_id").is_in(sorted(needles))))
        manifest = json.loads((home / "exports" / "labels" / f"date={day}" / "manifest.json").read_text())
        assert manifest["row_counts"]["turns"] == manifest["rows"] == released_after[day].height
        assert [f["rows_removed"] for f in manifest["forgotten"]] == [
            before.height - released_after[day].height
        ]
        assert before.height > released_after[day].height
    # what label_release_export publishes from the warehouse now (its gates evaluated again) was republished
    exported = dg.materialize(
        [label_release, label_release_export], selection=[label_release_export],
        partition_key=DAYS[0].isoformat(), resources=_resources(home, world.raw, NEW),
    )  # fmt: skip
    assert exported.success
    assert _released(home)[DAYS[0]].sort("event_id").equals(released_after[DAYS[0]].sort("event_id"))
    # the online bundles: their personal entries and vectors gone, the others' (row-aligned) as exported
    for day, (entries, vectors) in _personal(home).items():
        before, before_vectors = personal_before[day]
        keep = ~before["user_id"].is_in(sorted(pseudonyms))
        assert entries.equals(before.filter(keep)) and np.array_equal(
            vectors, before_vectors[keep.to_numpy()]
        )

    # the runtime log keeps the other user's line only; the serving process forgets them at its next poll
    assert _log_users(home) == [pseudonymize(NEW, world.other)]
    assert service.check_for_update() is True
    served = service.served.rewriter
    assert served.rewrite(world.user, "turn on study mode").reason != "taught concept"
    assert served.preferences.values(pseudonymize(NEW, world.user)) == {}
    assert served.preferences.values(pseudonymize(NEW, world.other)) == {"cuisine": "Italian"}
    assert not pseudonyms & set(served.bundle.layers.p_blocks)


def _check_recounted(
    home: Path, world: World, rows_before: dict, rows_after: dict, needles: set[str]
) -> None:
    """The tables whose counts are taken again without the user: by hand from the rows before."""
    pseudonyms = world.pseudonyms()
    key = ("day", "src", "dst", "rewritten", "rewrite_id", "rewrite_layer")
    before = {tuple(r[k] for k in key): r for r in map(json.loads, rows_before["signals.markov_transitions"])}
    after = {tuple(r[k] for k in key): r for r in map(json.loads, rows_after["signals.markov_transitions"])}
    # a transition only they made is gone; the others lose them from their users and count no more than before
    assert set(after) == {k for k, r in before.items() if set(r["users"]) - pseudonyms}
    for k, r in after.items():
        assert r["users"] == [u for u in before[k]["users"] if u not in pseudonyms]
        if set(before[k]["users"]) & pseudonyms:
            assert (
                r["n_transitions"] <= before[k]["n_transitions"]
                and r["n_sessions"] <= before[k]["n_sessions"]
            )
        else:
            assert r == before[k]  # nobody else's transition changed
    removed = Counter()  # per day: the user's clean and quarantined rows
    for table in ("ingest.clean_turns", "ingest.quarantined_turns"):
        removed.update(json.loads(r)["day"] for r in rows_before[table] if _theirs(r, needles))
    stats_before = {json.loads(r)["day"]: json.loads(r) for r in rows_before["ingest.partition_stats"]}
    with _connect(home) as con:
        stats = con.execute(
            "SELECT s.day::VARCHAR, s.lines_read, s.clean_rows, s.quarantined_rows, "
            "(SELECT count(*) FROM ingest.clean_turns c WHERE c.day = s.day), "
            "(SELECT count(*) FROM ingest.quarantined_turns q WHERE q.day = s.day) "
            "FROM ingest.partition_stats s"
        ).fetchall()
        builds = con.execute(
            "SELECT b.day::VARCHAR, b.clean_turns, "
            "(SELECT count(*) FROM releases.label_release r WHERE r.day = b.day) "
            "FROM releases.release_builds b"
        ).fetchall()
    for day, lines_read, clean, quarantined, clean_now, quarantined_now in stats:
        assert removed[day] > 0 and lines_read == stats_before[day]["lines_read"] - removed[day]
        assert (clean, quarantined) == (clean_now, quarantined_now)  # lines read = clean + quarantined still
    builds_before = {
        json.loads(r)["day"]: json.loads(r)["clean_turns"] for r in rows_before["releases.release_builds"]
    }
    for day, clean_turns, release_rows in builds:
        assert clean_turns == release_rows < builds_before[day]


def test_a_dry_run_changes_nothing_and_reports_what_forgetting_does(world, home, capsys):
    rows, files = _rows(home), _files(home)
    assert _forget(world.user, "--old-key-env", "OLD_KEY", "--dry-run") == 0
    dry = capsys.readouterr().out
    assert dry.startswith("[selflearn] dry run, nothing changed:") and "would remove" in dry
    assert _rows(home) == rows and _files(home) == files
    assert _forget(world.user, "--old-key-env", "OLD_KEY") == 0
    done = capsys.readouterr().out
    # the same figures: what the dry run said would go went (only the real run rewrites the warehouse file)
    figures = [re.findall(r"[0-9][0-9,.-]*", line) for line in dry.splitlines()[1:]]
    assert figures == [
        re.findall(r"[0-9][0-9,.-]*", line) for line in done.splitlines()[1:] if "afresh" not in line
    ]
    assert len(figures) > 6 and "warehouse file written afresh" in done


def test_a_key_the_warehouse_never_knew_is_refused(world, home, capsys, monkeypatch):
    rows, files = _rows(home), _files(home)
    monkeypatch.setenv("WRONG_KEY", "not-a-key-of-this-warehouse")
    assert _forget(world.user, "--old-key-env", "WRONG_KEY") == 2
    err = capsys.readouterr().err
    assert (
        f"the key in WRONG_KEY (fingerprint {key_fingerprint('not-a-key-of-this-warehouse')}) was never "
        "recorded" in err
    )
    assert "nothing was changed" in err
    monkeypatch.setenv("SELFLEARN_PSEUDONYM_KEY", "not-a-key-of-this-warehouse")
    assert _forget(world.user, "--old-key-env", "OLD_KEY") == 2
    assert "SELFLEARN_PSEUDONYM_KEY (fingerprint" in capsys.readouterr().err
    assert _forget(world.user, "--old-key-env", "UNSET_VARIABLE") == 2
    assert "UNSET_VARIABLE is not set" in capsys.readouterr().err
    assert _rows(home) == rows and _files(home) == files


def test_forgetting_twice_is_a_no_op(world, home, capsys):
    assert _forget(world.user, "--old-key-env", "OLD_KEY") == 0
    capsys.readouterr()
    rows, files = _rows(home), _files(home)
    assert _forget(world.user, "--old-key-env", "OLD_KEY") == 0
    assert f"[selflearn] nothing of user {world.user} to forget" in capsys.readouterr().out
    assert _rows(home) == rows and _files(home) == files
    # without the earlier key the days ingested with it are not searched, and the command says so
    assert _forget(world.user) == 0
    captured = capsys.readouterr()
    assert (
        f"not searched: the days ingested with key {key_fingerprint(OLD)} (days from {DAYS[0]})"
        in captured.err
    )
    assert _rows(home) == rows and _files(home) == files


def test_while_another_process_holds_the_warehouse_nothing_is_touched(world, home):
    """One writer: the command waits for the warehouse's lock, then gives up naming the holder, before any
    file is changed."""
    files = _files(home)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('open', "
         "flush=True); time.sleep(60)", str(home / "warehouse.duckdb")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseLockedError, match=f"PID {holder.pid}"):
            forget_user(home, world.user, NEW, {"OLD_KEY": OLD}, lock_wait_s=0.5)
    finally:
        holder.kill()
        holder.wait()
    assert _files(home) == files
    assert len(_log_users(home)) == 3


# --- the runtime log, by hand -------------------------------------------------------------------------------


def _log_line(user: str, key: str, event: str) -> bytes:
    row = {"ts": "2026-11-04T10:00:00+00:00", "user_id": user, "key": key, "value": "x", "event_id": event,
           "source": "runtime", "confidence": 1.0}  # fmt: skip
    return (json.dumps(row) + "\n").encode()


def test_the_runtime_log_keeps_every_other_line_as_it_was(tmp_path):
    log = preferences_log(tmp_path)
    log.parent.mkdir()
    others = [
        _log_line("aaaa", "team", "e1"),
        b"{garbled line of someone else\n",
        _log_line("bbbb", "cuisine", "e3"),
    ]
    theirs = [
        _log_line("p1", "team", "e2"),
        b'{"user_id": "p2", "key": "te',
        _log_line("p2", "concept:x", "e4"),
    ]
    log.write_bytes(others[0] + theirs[0] + others[1] + theirs[2] + others[2] + theirs[1] + b"\n")
    log.chmod(0o600)
    assert forget_lines(log, ["p1", "p2"], dry_run=True) == 3 and log.read_bytes().count(b"\n") == 6
    assert forget_lines(log, ["p1", "p2"], dry_run=False) == 3
    assert log.read_bytes() == b"".join(others)  # byte for byte, in order; the torn line of theirs gone too
    assert log.stat().st_mode & 0o777 == 0o600  # personal data: owner only, as the runtime writes it
    assert [item["user_id"] for item in PreferenceStore.load(log).rows()] == ["aaaa", "bbbb"]
    assert forget_lines(log, ["p1", "p2"], dry_run=False) == 0


def test_a_line_appended_while_the_log_is_rewritten_is_not_lost(tmp_path, monkeypatch):
    """`selflearn teach` appends without a lock: a line appended before the rename makes the rewrite start
    again; one written after it by a writer that had opened the old file is carried over to the new one."""
    log = preferences_log(tmp_path)
    log.parent.mkdir()
    log.write_bytes(_log_line("aaaa", "team", "e1") + _log_line("p1", "team", "e2"))
    real_write, real_replace = runtime_log._write, runtime_log.os.replace
    calls = Counter()

    def write_then_someone_appends(path, data):  # a teaching lands between the read and the rename, once
        real_write(path, data)
        if not calls["write"]:
            with log.open("ab") as f:
                f.write(_log_line("bbbb", "cuisine", "e3"))
        calls["write"] += 1

    def replace_while_a_writer_holds_the_old_file(source, target):
        fd = os.open(target, os.O_WRONLY | os.O_APPEND)  # opened before the rename, written after it
        real_replace(source, target)
        os.write(fd, _log_line("cccc", "team", "e5") + _log_line("p1", "cuisine", "e6"))
        os.close(fd)

    monkeypatch.setattr(runtime_log, "_write", write_then_someone_appends)
    monkeypatch.setattr(runtime_log.os, "replace", replace_while_a_writer_holds_the_old_file)
    assert forget_lines(log, ["p1"], dry_run=False) == 1
    assert calls["write"] == 2
    users = [json.loads(line)["user_id"] for line in log.read_text().splitlines()]
    assert users == ["aaaa", "bbbb", "cccc"]  # theirs gone, also the one that came late


# --- the warehouse, by hand ---------------------------------------------------------------------------------


def test_rows_are_found_by_their_columns_in_any_table_and_a_reused_event_id_keeps_the_other_users_row():
    """User A (pseudonym pA, raw id rawA) is forgotten; B (pB) reused A's event id e1 on the next day. Tables
    of a schema the command has never heard of are covered by their column names."""
    con = duckdb.connect()
    run_sql(con, "ingest/schema.sql")
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    turns = [(d1, "e1", "pA", "play jazz"), (d1, "e0", "pA", "my own words"), (d2, "e1", "pB", "play jazz"),
             (d2, "e2", "pB", "stop")]  # fmt: skip
    con.executemany(
        "INSERT INTO ingest.clean_turns (day, event_id, session_id, user_id, device_id, ts, asr_text, "
        "locale, source_file, source_line) "
        "VALUES (?, ?, 's', ?, 'd', '2026-11-01 10:00', ?, 'en-US', 'f', 1)",
        turns,
    )
    quarantined = [(d1, '{"user_id": "pA", "asr_text": 1}'), (d1, "{'user_id': 'rawA'}"),
                   (d1, "{'user_id': 'rawAB'}"), (d2, '{"user_id": "pB"}')]  # fmt: skip
    con.executemany(
        "INSERT INTO ingest.quarantined_turns VALUES (?, 'f', 1, ?, NULL, 'bad', 'bad')", quarantined
    )
    con.execute("CREATE SCHEMA extra")
    con.execute("CREATE TABLE extra.notes (day DATE, event_id VARCHAR, note VARCHAR)")
    con.executemany(
        "INSERT INTO extra.notes VALUES (?, ?, ?)", [(d1, "e1", "A"), (d2, "e1", "B"), (d2, "e2", "B")]
    )
    con.execute("CREATE TABLE extra.undated (first_event_id VARCHAR, note VARCHAR)")
    con.executemany("INSERT INTO extra.undated VALUES (?, ?)", [("e0", "A"), ("e1", "A or B"), ("e2", "B")])
    con.execute("CREATE TABLE extra.groups (name VARCHAR, users VARCHAR[])")
    con.executemany(
        "INSERT INTO extra.groups VALUES (?, ?)", [("A", ["pA"]), ("AB", ["pA", "pB"]), ("B", ["pB"])]
    )
    con.execute("CREATE TABLE extra.prefs (user_id VARCHAR, value VARCHAR)")
    con.executemany("INSERT INTO extra.prefs VALUES (?, ?)", [("pA", "jazz"), ("pB", "rock")])

    con.begin()
    out = forget_rows(con, "rawA", ["pA"])
    con.commit()

    assert out.rows == {"ingest.clean_turns": 2, "ingest.quarantined_turns": 2, "extra.notes": 1,
                        "extra.undated": 1, "extra.groups": 1, "extra.prefs": 1}  # fmt: skip
    assert con.sql("SELECT day, event_id FROM ingest.clean_turns ORDER BY ALL").fetchall() == [
        (d2, "e1"),
        (d2, "e2"),
    ]
    assert con.sql("SELECT raw FROM ingest.quarantined_turns ORDER BY ALL").fetchall() == [
        ('{"user_id": "pB"}',),
        ("{'user_id': 'rawAB'}",),
    ]  # another id that merely starts like theirs stays
    assert con.sql("SELECT day, event_id FROM extra.notes ORDER BY ALL").fetchall() == [
        (d2, "e1"),
        (d2, "e2"),
    ]
    # without a day, a reused id cannot be told apart: its row stays (the id is B's too)
    assert con.sql("SELECT note FROM extra.undated ORDER BY ALL").fetchall() == [("A or B",), ("B",)]
    assert con.sql("SELECT name, users FROM extra.groups ORDER BY ALL").fetchall() == [
        ("AB", ["pB"]),
        ("B", ["pB"]),
    ]
    assert con.sql("SELECT user_id FROM extra.prefs").fetchall() == [("pB",)]
    assert out.events == {d1: {"e0", "e1"}} and out.days["ingest.clean_turns"] == {d1}
    assert out.texts == {"play jazz", "my own words", ""} and out.texts_kept == {"play jazz", ""}
    assert con.sql("SELECT getvariable('forget_pseudonyms')").fetchall() == [
        (None,)
    ]  # nothing stays in the session

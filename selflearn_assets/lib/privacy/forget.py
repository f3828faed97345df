"""Forgetting a customer (`selflearn forget-user USER_ID`): everything selflearn derived from them goes.

The id is the one the logs carry. selflearn never stored it: it is pseudonymised with the current key
(SELFLEARN_PSEUDONYM_KEY) and with every earlier key given (`--old-key-env`), since a customer has one
pseudonym per key (`ingest/pseudonym_keys.py`). Every key must be one the warehouse knows (a fingerprint an
ingested day recorded or `selflearn rotate-key` declared), else nothing is done: a wrong key finds nothing and
would report a customer forgotten who is not. A recorded key that was not given is named in the report: the
days ingested with it were not searched.

What goes, in this order:

1. **Warehouse** (`warehouse.py`), in one transaction: every row with one of their pseudonyms or event ids, in
   every table (sessions, annotations, release rows, personal index entries, the teaching tables, ...); the
   accounting counts of the days follow.
   **Lake** (`lake.py`): the tables whose rows live in the lake (the clean turns and quarantined lines, the
   signals' and the labels' day tables, read through the warehouse's views) have each day that held rows of
   theirs published again without them (the views are first pointed at this home's lake, and a warehouse that
   still has those tables migrated to it); then the accounting counts of those days and the Markov
   transitions of their days are counted again without them (`warehouse.recount_partition_stats`,
   `warehouse.recount_markov`).
2. **Exports** (`exports.py`): the label releases of their days are republished without their rows; every
   online bundle is written again without their personal entries and vectors.
3. **Embedding store** (`embeddings.py`): their texts' vectors, unless another customer said the text.
4. **Runtime log** (`runtime_log.py`): their taught preferences and concepts. A running `selflearn serve`
   drops them, and their personal entries, at its next poll (the log and the bundle changed).

The files are rewritten while the warehouse transaction is still open, and it commits last: a crash anywhere
leaves the warehouse as it was, and running the command again finishes the job (the files hold nothing of
theirs that the warehouse does not still point to). Then the warehouse file is copied afresh and swapped in
(`warehouse_file.py`), since DuckDB leaves deleted rows' bytes in its file. `dry_run` does all of it in a
transaction that is rolled back and writes no file: the report says what would go. The warehouse's writer lock
is held throughout (`warehouse_lock.connect`: no asset runs meanwhile, and none is running when it starts).

What stays, and why: aggregates that hold no pseudonym, event id or text of theirs alone, and count them among
others until their day is built again — the global layer (`online.global_entries` and the bundles' global
files: texts said by >= min_users customers, with user and turn counts), the Markov rewrite tables and their
exports and mining reports (support counts), the self-aware verdicts, the defect model's weights and the
releases' quality measurements; models trained on their turns (MLflow runs and registered models, the online
bundles' static encoder vocabulary): a model cannot be untrained, it is replaced by the next training, which
no longer sees them; the Dagster run history (each materialization's metadata previews a few rows of its
table: event ids and texts among them); and the raw logs, which belong to the source system.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from selflearn_assets.lib.ingest.pseudonym_keys import key_fingerprint
from selflearn_assets.lib.lake import LAKE_TABLES, Lake, ensure_views
from selflearn_assets.lib.online.preferences import preferences_log
from selflearn_assets.lib.online.runtime import pseudonymize
from selflearn_assets.lib.privacy.embeddings import STORE, ShardChange, forget_texts
from selflearn_assets.lib.privacy.exports import FolderChange, forget_in_bundles, forget_in_releases
from selflearn_assets.lib.privacy.lake import PartitionChange, RowRule, forget_in_lake, hide_forgotten_turns
from selflearn_assets.lib.privacy.runtime_log import forget_lines
from selflearn_assets.lib.privacy.warehouse import (
    INGEST_TURN_TABLES,
    QUARANTINED,
    WarehouseForget,
    forget_rows,
    quarantined_mask,
    recount_markov,
    recount_partition_stats,
)
from selflearn_assets.lib.privacy.warehouse_file import compact, leftover_copies
from selflearn_assets.lib.settings import lake_root
from selflearn_assets.lib.sql import run_sql, table_exists
from selflearn_assets.lib.warehouse_lock import connect

KEPT = (
    "kept: aggregates without an id of theirs (online.global_entries and the bundles' global layer, "
    "rewrites.markov_rewrites and the rewrite exports, online.rewrite_verdicts, signals.defect_model, "
    "releases.release_quality), models trained on their turns (MLflow; replaced by the next training), the "
    "Dagster run history and the raw logs (the source system's)"
)


class ForgetRefused(ValueError):
    """A key the warehouse does not know: nothing was done."""


@dataclass(frozen=True)
class Pseudonym:
    pseudonym: str
    fingerprint: str  # of the key that made it
    key_name: str  # where the key came from: SELFLEARN_PSEUDONYM_KEY or the --old-key-env variable


@dataclass
class ForgetReport:
    user_id: str
    pseudonyms: list[Pseudonym]
    dry_run: bool
    warehouse: WarehouseForget = field(default_factory=WarehouseForget)
    lake: list[PartitionChange] = field(default_factory=list)
    releases: list[FolderChange] = field(default_factory=list)
    bundles: list[FolderChange] = field(default_factory=list)
    shards: list[ShardChange] = field(default_factory=list)
    log_lines: int = 0
    log_path: Path | None = None
    unsearched: list[tuple[str, date]] = field(default_factory=list)  # keys of ingested days not given
    compacted: bool = False  # the warehouse file was copied afresh (warehouse_file.py)

    @property
    def nothing(self) -> bool:
        w = self.warehouse
        return not (w.rows or self.lake or self.releases or self.bundles or self.shards or self.log_lines)

    def lines(self) -> list[str]:
        """The report, one line each (the command prints them)."""
        verb = "would remove" if self.dry_run else "removed"
        keys = ", ".join(f"{p.pseudonym} (key {p.fingerprint}, {p.key_name})" for p in self.pseudonyms)
        out = [
            ("dry run, nothing changed: " if self.dry_run else "") + f"user {self.user_id}: pseudonyms {keys}"
        ]
        for fingerprint, first in self.unsearched:
            out.append(f"warning: not searched: the days ingested with key {fingerprint} (days from {first}); "
                       "give that key with --old-key-env to forget them there too")  # fmt: skip
        if self.nothing:
            return [*out, f"nothing of user {self.user_id} to forget"]
        rows = self.warehouse.rows
        if rows:
            out.append(f"warehouse: {verb} {sum(rows.values()):,} rows: "
                       + ", ".join(f"{t} {n:,}" for t, n in sorted(rows.items())))  # fmt: skip
        for table, days in sorted(self.warehouse.recounted.items()):
            out.append(f"recounted without them: {table} on {_days(days)}")
        if self.lake:
            tables = sorted({c.table for c in self.lake})
            on = "; ".join(f"{t} on {_days([c.day for c in self.lake if c.table == t])}" for t in tables)
            out.append(f"lake: {verb} {sum(c.rows for c in self.lake):,} rows, each day published again "
                       f"without them: {on}")  # fmt: skip
        if self.compacted:
            out.append("warehouse file written afresh: the deleted rows' bytes are gone from it")
        if self.releases:
            what = "to republish" if self.dry_run else "republished"
            out.append(f"label releases {what} without their {sum(c.rows for c in self.releases):,} rows: "
                       f"{_days([c.day for c in self.releases])}")  # fmt: skip
        if self.bundles:
            what = "to rewrite" if self.dry_run else "rewritten"
            out.append(f"online exports {what} without their {sum(c.rows for c in self.bundles):,} personal "
                       f"entries: {_days([c.day for c in self.bundles])}")  # fmt: skip
        if self.warehouse.texts:
            gone, kept = sum(c.texts for c in self.shards), len(self.warehouse.texts_kept)
            out.append(f"embedding store: {verb} {gone:,} vectors of their texts from {len(self.shards)} "
                       f"shard(s); {kept:,} of their {len(self.warehouse.texts):,} texts kept (other users "
                       "said them)")  # fmt: skip
        if self.log_lines:
            out.append(f"runtime log: {verb} {self.log_lines} line(s) of {self.log_path}; a running "
                       "`selflearn serve` forgets them at its next poll")  # fmt: skip
        return [*out, KEPT]


def _days(days) -> str:
    return ", ".join(str(d) for d in sorted(set(days)))


def pseudonyms_of(user_id: str, current_key: str, earlier_keys: dict[str, str]) -> list[Pseudonym]:
    """The customer's pseudonym under the current key and under each earlier key (variable name -> key)."""
    keys = {"SELFLEARN_PSEUDONYM_KEY": current_key, **earlier_keys}
    out: dict[str, Pseudonym] = {}
    for name, key in keys.items():
        p = Pseudonym(pseudonymize(key, user_id), key_fingerprint(key), name)
        out.setdefault(p.pseudonym, p)
    return list(out.values())


def check_keys(con, pseudonyms: list[Pseudonym]) -> list[tuple[str, date]]:
    """Refuse (ForgetRefused) a key the warehouse does not know; returns the keys days were ingested with that
    were not given, with the first such day."""
    known = dict(run_sql(con, "privacy/known_fingerprints.sql").fetchall()) if _has_keys(con) else {}
    for p in pseudonyms:
        if p.fingerprint in known:
            continue
        if p.key_name != "SELFLEARN_PSEUDONYM_KEY":
            raise ForgetRefused(
                f"the key in {p.key_name} (fingerprint {p.fingerprint}) was never recorded by an ingested day "
                f"nor declared by `selflearn rotate-key` (known: {', '.join(known) or 'none'}): not an earlier "
                "key of this warehouse"
            )
        if known:
            raise ForgetRefused(
                f"SELFLEARN_PSEUDONYM_KEY (fingerprint {p.fingerprint}) was never recorded by an ingested day "
                f"nor declared by `selflearn rotate-key` (known: {', '.join(known)}): with another key than the "
                "warehouse's, the user's pseudonym would not be found"
            )
    given = {p.fingerprint for p in pseudonyms}
    return [(f, first) for f, first in known.items() if f not in given and first is not None]


def _has_keys(con) -> bool:
    return table_exists(con, "ingest", "key_fingerprints") and table_exists(con, "ingest", "key_rotations")


def forget_user(
    home: str | Path,
    user_id: str,
    current_key: str,
    earlier_keys: dict[str, str] | None = None,
    dry_run: bool = False,
    lock_wait_s: float = 10.0,
) -> ForgetReport:
    """Forget the customer `user_id` (the id as the logs carry it) under `home` ($SELFLEARN_HOME). Raises
    ForgetRefused for a key the warehouse does not know, and WarehouseLockedError when another process still
    holds the warehouse after `lock_wait_s`, before anything changes."""
    home = Path(home)
    pseudonyms = pseudonyms_of(user_id, current_key, earlier_keys or {})
    report = ForgetReport(user_id, pseudonyms, dry_run, log_path=preferences_log(home))
    names = [p.pseudonym for p in pseudonyms]
    warehouse = home / "warehouse.duckdb"
    if not warehouse.is_file() and earlier_keys:
        raise ForgetRefused(
            f"no warehouse at {warehouse}: no key was recorded to check the earlier keys against"
        )
    con = connect(warehouse, wait_s=lock_wait_s) if warehouse.is_file() else None
    lake = Lake(lake_root(warehouse))
    open_transaction = False
    try:
        if con is not None:
            report.unsearched = check_keys(con, pseudonyms)
            if not dry_run:  # the views read this home's lake (a copied warehouse names its origin's)
                ensure_views(con, lake, [t for t in LAKE_TABLES if table_exists(con, *t.split("."))])
            con.begin()
            open_transaction = True
            report.warehouse = forget_rows(con, user_id, names)
        rules = {}
        if con is not None and report.warehouse.quarantined_days:  # their quarantined lines, by raw text
            mask = quarantined_mask(con, user_id, names)
            rules[QUARANTINED] = RowRule(report.warehouse.quarantined_days, mask)
        report.lake = forget_in_lake(lake, report.warehouse.events, names, dry_run, rules)
        if con is not None:  # the accounting and the Markov days counted again, from the rows left
            lake_days = [c.day for c in report.lake if c.table in INGEST_TURN_TABLES]
            recount_partition_stats(con, report.warehouse, lake_days)
            if dry_run:  # the turns are still in the lake: the (rolled back) view leaves them out
                hide_forgotten_turns(con, lake, report.warehouse.events, names)
            recount_markov(con, lake, report.warehouse, dry_run)
        report.releases = forget_in_releases(home / "exports", report.warehouse.events, dry_run)
        report.bundles = forget_in_bundles(home / "exports", names, dry_run)
        orphans = report.warehouse.texts - report.warehouse.texts_kept
        report.shards = forget_texts(home / STORE, orphans, dry_run)
        report.log_lines = forget_lines(report.log_path, names, dry_run)
        if open_transaction:
            open_transaction = False
            con.rollback() if dry_run else con.commit()
        if con is not None and not dry_run and (report.warehouse.rows or leftover_copies(warehouse)):
            compact(con, warehouse)
            report.compacted = True
    except BaseException:
        if open_transaction:
            with suppress(duckdb.Error):
                con.rollback()
        raise
    finally:
        if con is not None:
            con.close()
    return report

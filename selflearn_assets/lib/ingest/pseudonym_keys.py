"""Which pseudonym key each day was ingested with, and declared key rotations.

User and device ids are stored as keyed hashes (`pseudonym` in macros.sql): the same customer gets another
pseudonym under another key. A key changed by mistake between two days would silently split every customer in
two, and inflate the distinct-user counts that the privacy floor of global rewrites relies on. So each
ingested day records the fingerprint of its key (`ingest.key_fingerprints`; a hash, never the key), and a day
whose fingerprint differs from that of the nearest recorded day before or after it is refused, unless the
change was declared as a rotation (`ingest.key_rotations`, written by `selflearn rotate-key`).

A declared rotation still splits identities at the rotation: distinct-user counts over a window that spans it
count a customer once per key, so they are not comparable with counts on one side (`ROTATION_MEANING`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import duckdb

from selflearn_assets.lib.ingest.partitions import IngestError
from selflearn_assets.lib.sql import run_sql

ROTATION_MEANING = (
    "customers and devices get new pseudonyms from the first day ingested with the new key: the same customer "
    "has one pseudonym before the rotation and another after it, so distinct-user counts over a window that "
    "spans the rotation count such a customer twice and are not comparable with counts on one side; per-user "
    "history (personal rewrites, preferences) starts again"
)


class KeyChangedError(IngestError):
    """The pseudonym key differs from the one of a neighbouring ingested day, and no rotation was declared."""


@dataclass(frozen=True)
class Rotation:
    old_fingerprint: str
    new_fingerprint: str
    meaning: str


def key_fingerprint(key: str) -> str:
    """12 hex characters that identify a key without revealing it."""
    return hashlib.sha256(b"selflearn-key-fingerprint" + key.encode()).hexdigest()[:12]


def check_key(con: duckdb.DuckDBPyConnection, day: date, fingerprint: str) -> None:
    """Refuse to ingest `day` with a key whose fingerprint differs from the nearest recorded day before (or
    after) it, unless that change is a declared rotation (old → new in the order of the days)."""
    neighbours = run_sql(con, "ingest/key_neighbours.sql", {"day": day}).fetchall()
    for side, other_day, other in neighbours:
        if other == fingerprint:
            continue
        old, new = (other, fingerprint) if side == "before" else (fingerprint, other)
        if not _declared(con, old, new):
            raise KeyChangedError(
                f"{day}: pseudonym key changed since {other_day} (fingerprint {old} → {new}"
                f"{'' if side == 'before' else ', the later day'}). Pseudonyms made with another key split every "
                "customer in two. Declare the rotation with `selflearn rotate-key --old-fingerprint "
                f"{old}` (with SELFLEARN_PSEUDONYM_KEY set to the new key), or set SELFLEARN_PSEUDONYM_KEY back."
            )


def record_key(con: duckdb.DuckDBPyConnection, day: date, fingerprint: str) -> None:
    run_sql(con, "ingest/key_fingerprint_insert.sql", {"day": day, "fingerprint": fingerprint})


def declare_rotation(con: duckdb.DuckDBPyConnection, old_fingerprint: str, new_fingerprint: str) -> Rotation:
    """Record that days ingested with `old_fingerprint` may be followed by days with `new_fingerprint`."""
    if old_fingerprint == new_fingerprint:
        raise IngestError(f"the old and the new key have the same fingerprint ({new_fingerprint}): nothing to rotate")
    run_sql(con, "ingest/schema.sql")
    if not _declared(con, old_fingerprint, new_fingerprint):
        run_sql(
            con,
            "ingest/key_rotation_insert.sql",
            {"old_fingerprint": old_fingerprint, "new_fingerprint": new_fingerprint, "meaning": ROTATION_MEANING},
        )
    return Rotation(old_fingerprint, new_fingerprint, ROTATION_MEANING)


def recorded_fingerprints(con: duckdb.DuckDBPyConnection) -> list[tuple[date, str]]:
    """(first day, fingerprint) of each run of consecutive recorded days with the same key, in day order."""
    rows = run_sql(con, "ingest/key_fingerprints.sql").fetchall()
    return [(d, f) for i, (d, f) in enumerate(rows) if i == 0 or rows[i - 1][1] != f]


def _declared(con: duckdb.DuckDBPyConnection, old: str, new: str) -> bool:
    params = {"old_fingerprint": old, "new_fingerprint": new}
    return bool(run_sql(con, "ingest/key_rotation_declared.sql", params).fetchone()[0])

"""The warehouse side of forgetting a customer: every row that carries one of their pseudonyms or event ids.

The tables are found in the catalog (`privacy/personal_columns.sql`), not listed, so that a table added later
(the teaching stage's, say) is covered as long as it names its columns as the others do: a row goes when its
`user_id` is one of the customer's pseudonyms or one of its event-id columns (`event_id`, `*_event_id`) holds
one of their turns; a `users` list (VARCHAR[]) loses their pseudonym, and a row whose only user they were
goes. `signals.markov_transitions` is the exception: its days are counted again from the turns that remain
(`recount_markov`, with the asset's own SQL, `transitions.transitions_rows`), so its transition and session
counts leave them too; since the table lives in the lake, the recounted days are published there (after the
lake has lost the customer's other rows, `forget.py`), or, in a warehouse not yet moved to the lake, replaced
in the table. Their quarantined lines are found by their raw text (`privacy/quarantined_line_macro.sql`): deleted
from a warehouse that still has the table, else their days are noted for the lake (`quarantined_mask`). The
clean turns and quarantined lines live in the lake too (views here: the catalog's generic deletes skip them, and
`lake.py` republishes their days). The turn counts that accounting gates compare with the tables
(`ingest.partition_stats`, `releases.release_builds`) are recounted on the days that lost rows
(`recount_partition_stats` again after the lake's days were published).

Everything runs on the caller's connection inside the caller's transaction (`forget.py` commits it, or rolls
it back for a dry run). The inputs go in as session variables (`forget_pseudonyms`, ...), which the SQL files
read with `getvariable`, and are reset before returning; the generic deletes name their table and column from
the catalog, quoted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import duckdb
import pyarrow as pa

from selflearn_assets.lib.lake import Lake
from selflearn_assets.lib.signals.transitions import transitions_rows
from selflearn_assets.lib.sql import query_pl, run_sql, table_exists

MARKOV = "signals.markov_transitions"
QUARANTINED = "ingest.quarantined_turns"
INGEST_TURN_TABLES = ("ingest.clean_turns", QUARANTINED)  # the tables partition_stats counts
VARIABLES = ("forget_pseudonyms", "forget_raw_id_pattern", "forget_event_ids", "forget_shared_keys",
             "forget_texts")  # fmt: skip
PSEUDONYMS = "getvariable('forget_pseudonyms')::VARCHAR[]"


@dataclass
class WarehouseForget:
    """What left the warehouse (or would leave it, in a transaction that is then rolled back)."""

    rows: Counter = field(default_factory=Counter)  # table -> rows removed
    days: dict[str, set[date]] = field(
        default_factory=dict
    )  # table -> days that lost rows (tables with `day`)
    recounted: dict[str, list[date]] = field(default_factory=dict)  # table -> days whose counts were redone
    events: dict[date, set[str]] = field(default_factory=dict)  # day -> the customer's event ids that day
    markov_days: list[date] = field(default_factory=list)  # days whose transitions count them
    texts: set[str] = field(default_factory=set)  # their turns' texts as the encoder embeds them
    texts_kept: set[str] = field(default_factory=set)  # of those, the texts other customers' turns have too
    quarantined_days: set[date] = field(default_factory=set)  # days of their quarantined lines in the lake


def raw_id_pattern(raw_id: str) -> str:
    """A regular expression (RE2) matching the raw id as a quoted value in a raw line."""
    return "[\"']" + re.escape(raw_id) + "[\"']"


def forget_rows(con: duckdb.DuckDBPyConnection, raw_id: str, pseudonyms: list[str]) -> WarehouseForget:
    """Delete every row of the customer (call inside a transaction); returns what went, and the event ids and
    texts the files outside the warehouse are cleaned of."""
    out = WarehouseForget()
    if not table_exists(con, "ingest", "clean_turns"):
        return out  # nothing was ingested
    _set(con, "forget_pseudonyms", pseudonyms, "VARCHAR[]")
    _set(con, "forget_raw_id_pattern", raw_id_pattern(raw_id), "VARCHAR")
    try:
        turns = query_pl(con, "privacy/their_turns.sql")
        run_sql(con, "privacy/quarantined_line_macro.sql")
        if _is_table(con, QUARANTINED):
            quarantined = run_sql(con, "privacy/delete_quarantined_lines.sql").fetchall()  # (day, event_id)
            _removed(out, QUARANTINED, [day for day, _ in quarantined])
        else:  # in the lake: lake.py publishes these days again without them (`quarantined_mask`)
            quarantined = run_sql(con, "privacy/their_quarantined_lines.sql").fetchall()
            out.quarantined_days = {day for day, _ in quarantined}
        events = set(turns.select("day", "event_id").iter_rows()) | {
            (d, e) for d, e in quarantined if e is not None
        }
        for day, event_id in events:
            out.events.setdefault(day, set()).add(event_id)
        _set(con, "forget_event_ids", sorted({e for _, e in events}), "VARCHAR[]")  # all of them, first
        shared = {e for (e,) in run_sql(con, "privacy/shared_event_ids.sql").fetchall()}
        _set(con, "forget_shared_keys", sorted(f"{d}/{e}" for d, e in events if e in shared), "VARCHAR[]")
        _set(con, "forget_event_ids", sorted({e for _, e in events} - shared), "VARCHAR[]")
        _delete_generic(con, out)
        _recount(con, out)
        out.texts = set(turns["asr_text"]) | set(turns["response_text"])
        _set(con, "forget_texts", sorted(out.texts), "VARCHAR[]")
        out.texts_kept = {t for (t,) in run_sql(con, "privacy/texts_still_said.sql").fetchall()}
    finally:
        for name in VARIABLES:
            con.execute(f"RESET VARIABLE {name}")  # our fixed names: nothing of theirs stays in the session
    out.rows = Counter({table: n for table, n in out.rows.items() if n})
    return out


def _set(con, name: str, value, sql_type: str) -> None:
    con.execute(f"SET VARIABLE {name} = ?::{sql_type}", [value])  # name and type: our constants


def _quoted(*names: str) -> str:
    return ".".join('"' + n.replace('"', '""') + '"' for n in names)


def _removed(out: WarehouseForget, table: str, days: list) -> None:
    out.rows[table] += len(days)
    if days and days[0] is not None:
        out.days.setdefault(table, set()).update(days)


def _delete_generic(con, out: WarehouseForget) -> None:
    """Delete by every personal column the catalog lists (`privacy/personal_columns.sql`), then count the
    Markov transitions of their days again."""
    for schema, table, column, kind, has_day in run_sql(con, "privacy/personal_columns.sql").fetchall():
        name, target, col = f"{schema}.{table}", _quoted(schema, table), _quoted(column)
        if name == MARKOV:
            continue
        returning = ' RETURNING "day"' if has_day else " RETURNING NULL"
        if kind == "user":
            where = f"{col} IN (SELECT unnest({PSEUDONYMS}))"
        elif kind == "event":
            where = f"{col} IN (SELECT unnest(getvariable('forget_event_ids')::VARCHAR[]))"
            if has_day:  # an id another customer's turn reuses: only the rows of the customer's day
                where += (f" OR (CAST(\"day\" AS VARCHAR) || '/' || {col}) IN "
                          "(SELECT unnest(getvariable('forget_shared_keys')::VARCHAR[]))")  # fmt: skip
        else:  # a list of users: a row that was theirs alone goes, the others lose their pseudonym
            kept = f"list_filter({col}, lambda u: NOT list_contains({PSEUDONYMS}, u))"
            where = f"len({col}) > 0 AND len({kept}) = 0"
            with_others = f"list_has_any({col}, {PSEUDONYMS}) AND len({kept}) > 0"
            con.execute(f"UPDATE {target} SET {col} = {kept} WHERE {with_others}")
        deleted = con.execute(f"DELETE FROM {target} WHERE {where}{returning}").fetchall()
        _removed(out, name, [d for (d,) in deleted])
    if table_exists(con, "signals", "markov_transitions"):
        out.markov_days = [d for (d,) in run_sql(con, "privacy/markov_days.sql").fetchall()]


def recount_markov(con, lake: Lake, out: WarehouseForget, dry_run: bool) -> None:
    """Count the days of `out.markov_days` again from the turns that remain (call inside the transaction of
    `forget_rows`, after the lake lost the customer's rows): each day published again in `lake` (not in a dry
    run), or replaced in the table of a warehouse that still has one; the rows that went are counted in `out`."""
    days = out.markov_days
    if not days:
        return
    before = _count_days(con, days)
    in_table = _is_table(con, MARKOV)
    after = 0
    for day in days:
        rows = transitions_rows(con, day).to_arrow_table()  # one day's transitions: small beside its turns
        after += rows.num_rows
        if in_table:
            con.execute(f"DELETE FROM {MARKOV} WHERE day = ?", [day])
            con.register("_recounted_transitions", rows)
            try:
                con.execute(f"INSERT INTO {MARKOV} BY NAME SELECT * FROM _recounted_transitions")
            finally:
                con.unregister("_recounted_transitions")
        elif not dry_run:
            lake.write_partition(MARKOV, day, rows)
    if before - after:
        out.rows[MARKOV] += before - after
    out.recounted[MARKOV] = days


def _is_table(con, table: str) -> bool:
    schema, name = table.split(".")
    [(count,)] = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_name = ? AND table_type = 'BASE TABLE'",
        [schema, name],
    ).fetchall()
    return count > 0


def _count_days(con, days: list[date]) -> int:
    sql = f"SELECT count(*) FROM {MARKOV} WHERE day IN (SELECT unnest(?::DATE[]))"
    [(count,)] = con.execute(sql, [days]).fetchall()
    return count


def quarantined_mask(con, raw_id: str, pseudonyms: list[str]) -> Callable[[pa.Table], pa.Array]:
    """Which rows of a lake partition of ingest.quarantined_turns are the customer's: the rule of
    `privacy/quarantined_line_macro.sql` (created on `con` by `forget_rows`), run by DuckDB on the rows."""

    def mask(rows: pa.Table) -> pa.Array:
        con.register("_forget_quarantined", rows.select(["raw"]))
        try:
            sql = ("SELECT coalesce(their_quarantined_line(raw, ?::VARCHAR[], ?::VARCHAR), false) AS theirs "
                   "FROM _forget_quarantined")  # fmt: skip
            theirs = [t for (t,) in con.execute(sql, [pseudonyms, raw_id_pattern(raw_id)]).fetchall()]
        finally:
            con.unregister("_forget_quarantined")
        return pa.array(theirs, pa.bool_())

    return mask


def recount_partition_stats(con, out: WarehouseForget, days) -> None:
    """The accounting counts of `days` (that lost clean turns or quarantined lines) taken from what the tables
    hold now (`privacy/recount_partition_stats.sql`); forget.py calls it again once the lake's days are
    published."""
    days = sorted(set(days) | set(out.recounted.get("ingest.partition_stats", [])))
    if days and table_exists(con, "ingest", "partition_stats"):
        run_sql(con, "privacy/recount_partition_stats.sql", {"days": days})
        out.recounted["ingest.partition_stats"] = days


def _recount(con, out: WarehouseForget) -> None:
    """The accounting counts of the days that lost turns (`privacy/recount_*.sql`)."""
    recount_partition_stats(con, out, set().union(*(out.days.get(t, set()) for t in INGEST_TURN_TABLES)))
    release_days = sorted(out.days.get("releases.label_release", set()))
    if release_days and table_exists(con, "releases", "release_builds"):
        run_sql(con, "privacy/recount_release_builds.sql", {"days": release_days})
        out.recounted["releases.release_builds"] = release_days

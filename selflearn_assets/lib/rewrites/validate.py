"""Safety properties of a rewrite table, checked before it is exported."""

from __future__ import annotations

import polars as pl


def privacy_violations(table: pl.DataFrame, min_users: int) -> pl.DataFrame:
    """Rows whose path or target is supported by fewer than `min_users` distinct users (or unknown)."""
    weak = pl.col("support_users").fill_null(0) < min_users
    weak_target = pl.col("target_users").fill_null(0) < min_users
    return table.filter(weak | weak_target)


def cycles(table: pl.DataFrame) -> list[list[str]]:
    """Self-rewrites and cycles of the source → rewrite map (each cycle once, as its texts in order)."""
    mapping = dict(zip(table["source_text"].to_list(), table["rewrite_text"].to_list(), strict=True))
    found, done = [], set()
    for start in mapping:
        path, position = [], {}
        node = start
        while node in mapping and node not in done and node not in position:
            position[node] = len(path)
            path.append(node)
            node = mapping[node]
        if node in position:  # closed a cycle within this walk
            found.append(path[position[node]:])
        done.update(path)
    return found


def duplicate_sources(table: pl.DataFrame) -> list[str]:
    return table.group_by("source_text").len().filter(pl.col("len") > 1)["source_text"].to_list()

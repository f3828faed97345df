"""Label distribution drift between two releases: total variation distance per label.

A label's distribution is over its released (non-NULL) values: true/false for goal start and goal
success, the intent, the failure point, and for slots the slot names (each slot of each turn counts once,
a turn released with no slots counts as "(no slots)"). TVD = ½ Σ |p(v) − q(v)| over the union of values,
0 for identical distributions and 1 for disjoint ones.
"""

from __future__ import annotations

from collections import Counter

import polars as pl

from selflearn_assets.lib.releases.labels import LABELS

NO_SLOTS = "(no slots)"


def distribution(release: pl.DataFrame, label: str) -> dict[str, float]:
    if label not in release.columns:
        return {}
    values = release[label].drop_nulls().to_list()
    if label == "slots":
        counts = Counter(s["name"] for slots in values for s in slots) + Counter(
            NO_SLOTS for v in values if not v
        )
    else:
        counts = Counter(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
    total = sum(counts.values())
    return {k: c / total for k, c in counts.items()} if total else {}


def total_variation(p: dict[str, float], q: dict[str, float]) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def release_drift(current: pl.DataFrame, previous: pl.DataFrame | None) -> dict[str, float | None]:
    """Per label, the TVD between the two releases' distributions; None without a previous release or
    when either release has no value of the label."""
    out: dict[str, float | None] = {}
    for label in LABELS:
        p = distribution(current, label)
        q = distribution(previous, label) if previous is not None else {}
        out[label] = total_variation(p, q) if p and q else None
    return out

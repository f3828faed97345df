"""For each failing utterance, the reachable reformulation most likely to end in success.

Inputs: the window's chain and p, each state's probability of ending in SUCCESS.

- **Sources**: utterances said in the window (not dangling) with p_src <= max_source_success.
- **Path edges**: reformulations i → j (i != j) taken at least `min_support_transitions` times by at
  least `min_users` distinct users in the window. A path is a walk along path edges, so every edge
  of it passed both thresholds; its support is its bottleneck, the minimum over its edges of
  transitions, sessions and distinct users (`support_transitions`, `support_sessions`,
  `support_users`). For one hop that is the direct edge src → target.
- **Candidates** of a source: the states reachable along path edges in 1..`max_hops` hops; `hops`
  is the fewest, and among the fewest-hop paths the one with the most users (then transitions)
  gives the support.
- A candidate **target** must be another utterance with p_t >= min_target_success, a gain
  p_t − p_src >= min_gain and > 0, be said by at least `min_users` distinct users in the window
  (`target_users`; privacy: no single customer's words become a global rewrite), and not be a
  blocked pair (a deployed rewrite the self-aware rule dropped).
- **Choice**: the highest p_t; ties go to fewer hops, then more support users, then text order.

Because every chosen rewrite strictly raises p, rewrites cannot form a cycle (A → B and B → A would
need p_B > p_A > p_B); no source is rewritten to itself. A target is itself a source only if
min_target_success <= max_source_success; the runtime applies one rewrite, never a chain.

A source without a rewrite is counted under the first reason that left it with no candidate:
`no_reformulation` (never reformulated into another utterance), `support` (no reformulation taken
often enough), `privacy_path` (often enough, but by too few users), `target_success`, `gain`,
`privacy_target`, `blocked`. Comparisons of probabilities allow 1e-12 of rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from selflearn_assets.lib.markov.chain import AbsorbingChain, edge_users, state_users
from selflearn_assets.lib.markov.params import MarkovParams
from selflearn_assets.lib.markov.rows import N_SESSIONS, N_TRANSITIONS

EPS = 1e-12
REASONS = (
    "no_reformulation",
    "support",
    "privacy_path",
    "target_success",
    "gain",
    "privacy_target",
    "blocked",
)
_CANDIDATE_COLUMNS = ("source_id", "target_id", "hops", "support_users", "support_sessions", "support_transitions")


@dataclass(frozen=True)
class Selection:
    """The chosen rewrites by state id, and what happened to the other sources."""

    rewrites: pl.DataFrame  # source_id, target_id, hops, support_users/_sessions/_transitions, target_users
    n_sources: int  # sources considered (p_src <= max_source_success)
    n_candidates: int  # (source, reachable state) pairs along path edges
    rejected: dict[str, int] = field(default_factory=dict)  # sources per reason


def select_rewrites(
    chain: AbsorbingChain,
    success: np.ndarray,
    params: MarkovParams,
    blocked: pl.DataFrame | None = None,
) -> Selection:
    """The best target per source (see the module docstring); `blocked`: source_id, target_id."""
    rejected = dict.fromkeys(REASONS, 0)
    sources = np.flatnonzero(~chain.dangling & (success <= params.max_source_success + EPS))
    path_edges = _path_edges(chain, params)
    candidates = _reachable(sources, path_edges, chain.n_states, params.max_hops)

    alive = np.zeros(chain.n_states, dtype=bool)
    alive[candidates["source_id"].to_numpy()] = True
    _count_unreached(chain, sources[~alive[sources]], params, rejected)

    p = pl.Series(success)
    stages = [
        ("target_success", lambda c: c.filter(p.gather(c["target_id"]) >= params.min_target_success - EPS)),
        ("gain", lambda c: c.filter(_gain_ok(p.gather(c["target_id"]) - p.gather(c["source_id"]), params.min_gain))),
        ("privacy_target", lambda c: _with_target_users(chain, c, params.min_users)),
        ("blocked", lambda c: _drop_blocked(c, blocked)),
    ]
    remaining = candidates.with_columns(pl.lit(0, dtype=pl.Int64).alias("target_users"))
    for reason, keep in stages:
        kept = keep(remaining) if remaining.height else remaining
        rejected[reason] += remaining["source_id"].n_unique() - kept["source_id"].n_unique()
        remaining = kept

    best = (
        remaining.with_columns(p.gather(remaining["target_id"]).alias("_p"))
        .sort(["source_id", "_p", "hops", "support_users", "target_id"], descending=[False, True, False, True, False])
        .unique(subset="source_id", keep="first", maintain_order=True)
        .drop("_p")
    )
    return Selection(best, int(sources.size), candidates.height, rejected)


def _path_edges(chain: AbsorbingChain, params: MarkovParams) -> pl.DataFrame:
    """Reformulation edges (not repeats) passing support and privacy, with exact distinct users."""
    strong = chain.edges.filter(
        (pl.col("dst_id") != pl.col("src_id"))
        & (pl.col(N_TRANSITIONS) >= params.min_support_transitions)
        & (pl.col("users_upper") >= params.min_users)
    )
    strong = strong.with_columns(pl.Series("n_users", edge_users(chain, strong)))
    return strong.filter(pl.col("n_users") >= params.min_users)


def _reachable(sources: np.ndarray, edges: pl.DataFrame, n: int, max_hops: int) -> pl.DataFrame:
    """Breadth-first search from every source at once, up to max_hops, one (source, state) row each."""
    indptr = np.searchsorted(edges["src_id"].to_numpy(), np.arange(n + 1))
    e_dst = edges["dst_id"].to_numpy().astype(np.int64)
    e_support = [edges[c].to_numpy().astype(np.int64) for c in ("n_users", N_SESSIONS, N_TRANSITIONS)]
    origin = sources.astype(np.int64)
    node = origin.copy()
    support = [np.full(origin.size, np.iinfo(np.int64).max) for _ in e_support]
    visited = np.sort(origin * n + node)  # a source never counts as its own candidate
    found = []
    for hop in range(1, max_hops + 1):
        deg = indptr[node + 1] - indptr[node]
        if deg.sum() == 0:
            break
        walk = np.repeat(np.arange(node.size), deg)
        pos = np.repeat(indptr[node], deg) + np.arange(walk.size) - np.repeat(np.cumsum(deg) - deg, deg)
        origin, node = origin[walk], e_dst[pos]
        support = [np.minimum(s[walk], es[pos]) for s, es in zip(support, e_support, strict=True)]
        key = origin * n + node
        # Keep pairs not reached in fewer hops; per pair, the path with most users, then transitions.
        order = np.lexsort((-support[2], -support[0], key))
        order = order[~np.isin(key[order], visited)]
        first = np.r_[True, key[order][1:] != key[order][:-1]] if order.size else np.zeros(0, dtype=bool)
        pick = order[first]
        origin, node = origin[pick], node[pick]
        support = [s[pick] for s in support]
        visited = np.union1d(visited, key[pick])
        found.append((origin, node, np.full(origin.size, hop), *support))
    if not found:
        return pl.DataFrame(schema={c: pl.Int64 for c in _CANDIDATE_COLUMNS})
    columns = [np.concatenate(parts) for parts in zip(*found, strict=True)]
    return pl.DataFrame(dict(zip(_CANDIDATE_COLUMNS, columns, strict=True)))


def _count_unreached(
    chain: AbsorbingChain, unreached: np.ndarray, params: MarkovParams, rejected: dict[str, int]
) -> None:
    """Why sources with no candidate at all have none: judged by their own outgoing reformulations."""
    src = chain.edges["src_id"].to_numpy()
    moves = src != chain.edges["dst_id"].to_numpy()
    often = moves & (chain.edges[N_TRANSITIONS].to_numpy() >= params.min_support_transitions)
    has_move = np.bincount(src[moves], minlength=chain.n_states)[unreached] > 0
    has_often = np.bincount(src[often], minlength=chain.n_states)[unreached] > 0
    rejected["no_reformulation"] += int((~has_move).sum())
    rejected["support"] += int((has_move & ~has_often).sum())
    rejected["privacy_path"] += int(has_often.sum())


def _gain_ok(gain: pl.Series, min_gain: float) -> pl.Series:
    return (gain >= min_gain - EPS) & (gain > EPS)


def _with_target_users(chain: AbsorbingChain, candidates: pl.DataFrame, min_users: int) -> pl.DataFrame:
    """Candidates whose target was said by at least min_users distinct users, with that count.

    The sum of a target's day-list lengths bounds its distinct users from above, so exact counts
    are taken only for targets whose bound reaches min_users."""
    unique = candidates["target_id"].unique().to_numpy()
    bounded = unique[chain.users_upper[unique] >= min_users]
    users = pl.DataFrame({"target_id": bounded.astype(np.int64), "users": state_users(chain, bounded)})
    return (
        candidates.drop("target_users")
        .join(users.filter(pl.col("users") >= min_users), on="target_id", how="inner", maintain_order="left")
        .rename({"users": "target_users"})
    )


def _drop_blocked(candidates: pl.DataFrame, blocked: pl.DataFrame | None) -> pl.DataFrame:
    if blocked is None or blocked.height == 0:
        return candidates
    pairs = blocked.select(pl.col("source_id").cast(pl.Int64), pl.col("target_id").cast(pl.Int64))
    return candidates.join(pairs, on=["source_id", "target_id"], how="anti", maintain_order="left")

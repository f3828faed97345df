"""For each failing utterance, the reachable reformulation most likely to end in success.

Inputs: the window's chain and p, each state's probability of ending in SUCCESS.

- **Sources**: utterances said in the window (not dangling) with p_src <= max_source_success, where
  p_src is how likely the utterance succeeds *as said* (see `source_success`): with the absorption
  probability, an utterance that always fails but that users always repair by rephrasing would look
  successful, and the recurring misrecognitions a rewrite table exists for would never be sources.
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
- The target must **keep the source's meaning** (`meaning.py`: the spans where they differ sound or
  are spelled alike; no new or dropped content word): `meaning_score >= min_meaning_score`, unless at
  least `min_gold_override` audit gold turns said the source (a path candidate only): then the gold,
  not the alignment, decides in the precision gate.
- Its target must not be understood (logged interpretation) as another intent than the **label
  model** confidently reads in the source's turns (`intents.py`; with `evidence.label_intents`).
- Where audit gold is given (`evidence`), its **calibrated precision** (`precision.py`: how often it
  would be right on gold turns that said the source, shrunk toward its meaning-score stratum) must
  reach `min_precision`: the miner abstains from everything below.
- **Neighbours** (`neighbours.py`, with `neighbours` and audit gold): a source said by at least `min_users` users
  is also paired with successful utterances said by at least `min_users` users that sound like it,
  with no reformulation path (`hops` 0, support = the source's own); they pass the same gates, with
  the stricter `min_neighbour_meaning`.
- **Choice**: a path candidate before a neighbour; then the highest p_t; ties go to fewer hops,
  then more support users, then text order.

No source is rewritten to itself. Because a source is judged as said and a target by where its
chain ends, two utterances that users rephrase into each other can each look like the other's
rewrite (A → B and B → A), and a target can itself be a source (A → B → C). The runtime applies one
rewrite, never a chain, so the table keeps no utterance as both a source and a target: conflicting
rewrites are taken greedily by gain (then source text order) and the others dropped, which also
rules out every cycle.

A source without a rewrite is counted under the first reason that left it with no candidate:
`no_reformulation` (never reformulated into another utterance), `support` (no reformulation taken
often enough), `privacy_path` (often enough, but by too few users), `target_success`, `gain`,
`privacy_target`, `blocked`, `meaning`, `intent`, `precision`, `chain_or_cycle` (its best target is rewritten itself, or it is the
target of a rewrite with more gain). Comparisons of probabilities allow 1e-12 of rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from selflearn_assets.lib.markov.chain import AbsorbingChain, distinct_users
from selflearn_assets.lib.markov.intents import intent_conflicts
from selflearn_assets.lib.markov.meaning import meaning_score
from selflearn_assets.lib.markov.neighbours import neighbour_candidates
from selflearn_assets.lib.markov.params import MarkovParams
from selflearn_assets.lib.markov.precision import GoldEvidence, calibrated_precision, gold_counts
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
    "meaning",
    "intent",
    "precision",
    "chain_or_cycle",
)
_CANDIDATE_COLUMNS = (
    "source_id",
    "target_id",
    "hops",
    "support_users",
    "support_sessions",
    "support_transitions",
)


@dataclass(frozen=True)
class Selection:
    """The chosen rewrites by state id, and what happened to the other sources."""

    # source_id, target_id, hops, support_users/_sessions/_transitions, target_users, meaning_score,
    # gold_turns, gold_right, precision
    rewrites: pl.DataFrame
    n_sources: int  # sources considered (p_src <= max_source_success)
    n_candidates: int  # (source, reachable state) pairs along path edges
    rejected: dict[str, int] = field(default_factory=dict)  # sources per reason
    strata: list[dict] = field(default_factory=list)  # the precision strata (see precision.py)


def select_rewrites(
    chain: AbsorbingChain,
    success: np.ndarray,
    params: MarkovParams,
    blocked: pl.DataFrame | None = None,
    source_success: np.ndarray | None = None,
    evidence: GoldEvidence | None = None,
    locales: dict[str, str] | None = None,
) -> Selection:
    """The best target per source (see the module docstring); `blocked`: source_id, target_id.

    `source_success` is how likely an utterance is to succeed as the user said it (by default the
    absorption probability `success`; `mine_rewrites` passes the immediate P(src → SUCCESS)): it picks
    the sources and is the baseline of the gain. Targets are always judged by `success`."""
    rejected = dict.fromkeys(REASONS, 0)
    strata: list[dict] = []
    source_success = success if source_success is None else source_success
    sources = np.flatnonzero(~chain.dangling & (source_success <= params.max_source_success + EPS))
    path_edges, target_users = _privacy_checked(chain, success, params)
    candidates = _reachable(sources, path_edges, chain.n_states, params.max_hops)
    if params.neighbours and evidence is not None and evidence.turns.height:
        near, near_users, near_targets = neighbour_candidates(chain, success, sources, params)
        near = near.join(candidates.select("source_id", "target_id"), on=["source_id", "target_id"], how="anti")
        candidates = pl.concat([candidates, near])
        target_users[near_targets] = near_users[near_targets]

    alive = np.zeros(chain.n_states, dtype=bool)
    alive[candidates["source_id"].to_numpy()] = True
    _count_unreached(chain, sources[~alive[sources]], params, rejected)

    p = pl.Series(success)
    p_source = pl.Series(source_success)
    users = pl.Series(target_users)
    stages = [
        ("target_success", lambda c: c.filter(p.gather(c["target_id"]) >= params.min_target_success - EPS)),
        (
            "gain",
            lambda c: c.filter(
                _gain_ok(p.gather(c["target_id"]) - p_source.gather(c["source_id"]), params.min_gain)
            ),
        ),
        ("privacy_target", lambda c: c.filter(users.gather(c["target_id"]) >= params.min_users)),
        ("blocked", lambda c: _drop_blocked(c, blocked)),
        ("meaning", lambda c: _meaning_kept(c, chain, params, locales, evidence)),
        ("intent", lambda c: _intent_kept(c, chain, params, evidence)),
        ("precision", lambda c: _precision_kept(c, chain, params, evidence, strata)),
    ]
    remaining = candidates
    for reason, keep in stages:
        kept = keep(remaining) if remaining.height else remaining
        rejected[reason] += remaining["source_id"].n_unique() - kept["source_id"].n_unique()
        remaining = kept
    remaining = _with_gate_columns(remaining).with_columns(
        users.gather(remaining["target_id"]).alias("target_users")
    )

    best = (
        remaining.with_columns(p.gather(remaining["target_id"]).alias("_p"), (pl.col("hops") == 0).alias("_neighbour"))
        .sort(
            ["source_id", "_neighbour", "_p", "hops", "support_users", "target_id"],
            descending=[False, False, True, False, True, False],
        )
        .unique(subset="source_id", keep="first", maintain_order=True)
        .drop("_p", "_neighbour")
    )
    gain = (p.gather(best["target_id"]) - p_source.gather(best["source_id"])).to_numpy()
    best, n_dropped = _no_chains(best, gain, chain.n_states)
    rejected["chain_or_cycle"] += n_dropped
    return Selection(best, int(sources.size), candidates.height, rejected, strata)


# Columns the meaning and precision gates add, and their values where a gate did not run (no candidate
# reached it, or no audit gold).
_GATE_COLUMNS = {
    "meaning_score": (None, pl.Float64),
    "gold_turns": (0, pl.Int64),
    "gold_right": (0, pl.Int64),
    "precision": (None, pl.Float64),
}


def _with_gate_columns(candidates: pl.DataFrame) -> pl.DataFrame:
    return candidates.with_columns(
        pl.lit(value, dtype=dtype).alias(name)
        for name, (value, dtype) in _GATE_COLUMNS.items()
        if name not in candidates.columns
    )


def _pair_texts(candidates: pl.DataFrame, chain: AbsorbingChain) -> pl.DataFrame:
    """source_text, target_text of each candidate (source_id, target_id)."""
    return pl.DataFrame(
        {
            "source_text": chain.texts.gather(candidates["source_id"]),
            "target_text": chain.texts.gather(candidates["target_id"]),
        }
    )


def _meaning_kept(
    candidates: pl.DataFrame,
    chain: AbsorbingChain,
    params: MarkovParams,
    locales: dict[str, str] | None,
    evidence: GoldEvidence | None,
) -> pl.DataFrame:
    """Candidates whose target keeps the source's meaning (`meaning.py`), with their `meaning_score`.

    What was asked is what the audit gold says, and the alignment stands in for it where gold is thin:
    a path candidate that rewords the request ("bohemian" → "bohemian rhapsody", the title the user
    meant) still goes on to the precision gate when at least `min_gold_override` gold turns said its
    source, and is judged there, in its own meaning-score stratum."""
    texts = _pair_texts(candidates, chain)
    sources = texts["source_text"]
    locales = locales or {}
    scores = [meaning_score(s, t, locales.get(s)) for s, t in texts.iter_rows()]
    scored = candidates.with_columns(pl.Series("meaning_score", scores, dtype=pl.Float64))
    floor = pl.when(pl.col("hops") == 0).then(params.min_neighbour_meaning).otherwise(params.min_meaning_score)
    kept = pl.col("meaning_score") >= floor - EPS
    if evidence is None or evidence.turns.height == 0 or params.min_gold_override <= 0:
        return scored.filter(kept)
    said = evidence.turns.group_by("src").agg(pl.len().alias("_gold"))
    gold = pl.DataFrame({"src": sources}).join(said, on="src", how="left", maintain_order="left")["_gold"]
    overridden = (pl.col("hops") > 0) & (pl.col("_gold").fill_null(0) >= params.min_gold_override)
    return scored.with_columns(gold).filter(kept | overridden).drop("_gold")


def _intent_kept(
    candidates: pl.DataFrame, chain: AbsorbingChain, params: MarkovParams, evidence: GoldEvidence | None
) -> pl.DataFrame:
    """Candidates whose target is not understood as another intent than the label model reads in
    their source (`intents.py`); all of them without the label model's reading."""
    if evidence is None or evidence.label_intents is None or params.min_label_intent_share <= 0:
        return candidates
    conflict = intent_conflicts(
        _pair_texts(candidates, chain),
        evidence.label_intents,
        evidence.interpretations,
        params.min_label_intent_share,
        params.min_label_intent_turns,
    )
    return candidates.filter(~conflict)


def _precision_kept(
    candidates: pl.DataFrame,
    chain: AbsorbingChain,
    params: MarkovParams,
    evidence: GoldEvidence | None,
    strata: list[dict],
) -> pl.DataFrame:
    """Candidates whose calibrated precision on audit gold reaches `min_precision` (`precision.py`);
    all of them, with a null precision, when there is no gold evidence."""
    if evidence is None or evidence.turns.height == 0:
        return _with_gate_columns(candidates)
    texts = candidates.hstack(_pair_texts(candidates, chain))
    counted = texts.join(gold_counts(texts, evidence), on=["source_text", "target_text"], how="left")
    scored, report = calibrated_precision(counted, params.prior_precision, params.prior_strength)
    strata.extend(report)
    return scored.filter(pl.col("precision") >= params.min_precision - EPS).drop("source_text", "target_text")


def _no_chains(best: pl.DataFrame, gain: np.ndarray, n: int) -> tuple[pl.DataFrame, int]:
    """Keep no utterance as both a source and a target: conflicting rewrites are accepted greedily
    by gain, then source id (= text order); returns the kept rewrites and how many were dropped."""
    src, tgt = best["source_id"].to_numpy(), best["target_id"].to_numpy()
    is_source, is_target = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    is_source[src], is_target[tgt] = True, True
    conflict = is_target[src] | is_source[tgt]
    if not conflict.any():
        return best, 0
    keep = ~conflict
    at = np.flatnonzero(conflict)
    taken_sources: set[int] = set()
    taken_targets: set[int] = set()
    for i in at[np.lexsort((src[at], -gain[at]))]:
        if src[i] in taken_targets or tgt[i] in taken_sources:
            continue
        keep[i] = True
        taken_sources.add(int(src[i]))
        taken_targets.add(int(tgt[i]))
    return best.filter(pl.Series(keep)), int((~keep).sum())


def _privacy_checked(
    chain: AbsorbingChain, success: np.ndarray, params: MarkovParams
) -> tuple[pl.DataFrame, np.ndarray]:
    """The path edges (reformulations, not repeats, passing support and privacy, with their exact
    distinct users) and, per state, its exact distinct users where it could be a target (0 where
    it cannot: not the end of any path edge, too unlikely to succeed, or too few users by bound).

    Exact counts are taken only where the upper bound (sum of day-list lengths) reaches min_users."""
    strong = chain.edges.filter(
        (pl.col("dst_id") != pl.col("src_id"))
        & (pl.col(N_TRANSITIONS) >= params.min_support_transitions)
        & (pl.col("users_upper") >= params.min_users)
    )
    ends = np.flatnonzero(np.bincount(strong["dst_id"].to_numpy(), minlength=chain.n_states))
    ends = ends[
        (success[ends] >= params.min_target_success - EPS) & (chain.users_upper[ends] >= params.min_users)
    ]
    edge_users, end_users = distinct_users(chain, strong, ends)
    target_users = np.zeros(chain.n_states, dtype=np.int64)
    target_users[ends] = end_users
    path_edges = strong.with_columns(pl.Series("n_users", edge_users)).filter(
        pl.col("n_users") >= params.min_users
    )
    return path_edges, target_users


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
        order = order[~_is_in_sorted(key[order], visited)]
        first = np.r_[True, key[order][1:] != key[order][:-1]] if order.size else np.zeros(0, dtype=bool)
        pick = order[first]  # sorted by key
        origin, node = origin[pick], node[pick]
        support = [s[pick] for s in support]
        visited = np.sort(np.concatenate([visited, key[pick]]), kind="stable")  # a merge of two runs
        found.append((origin, node, np.full(origin.size, hop), *support))
    if not found:
        return pl.DataFrame(schema={c: pl.Int64 for c in _CANDIDATE_COLUMNS})
    columns = [np.concatenate(parts) for parts in zip(*found, strict=True)]
    return pl.DataFrame(dict(zip(_CANDIDATE_COLUMNS, columns, strict=True)))


def _is_in_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if sorted_keys.size == 0:
        return np.zeros(values.size, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.size - 1)
    return sorted_keys[at] == values


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


def _drop_blocked(candidates: pl.DataFrame, blocked: pl.DataFrame | None) -> pl.DataFrame:
    if blocked is None or blocked.height == 0:
        return candidates
    pairs = blocked.select(pl.col("source_id").cast(pl.Int64), pl.col("target_id").cast(pl.Int64))
    return candidates.join(pairs, on=["source_id", "target_id"], how="anti", maintain_order="left")

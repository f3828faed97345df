"""Candidates beyond the chain's paths: the same request, heard right, said by other users.

A recurring misrecognition is often repaired by few of the users who suffer it: on real speech most
retries are misheard again, and the users who do get through each take their own route. Yet the
request, heard right, is often said successfully by *other* users who were never misheard. The chain
links the two only when at least `min_users` users walked from one to the other; this module links
them by what they are instead: a failing utterance and a successful one that sound alike.

`neighbour_candidates` pairs every source said by at least `min_users` distinct users with every
state that could be a target (not dangling, success >= min_target_success, said by at least
`min_users` distinct users) whose text is close to it (rapidfuzz `ratio` of the whole utterances >=
`neighbour_char_cutoff`, a cheap block computed in chunks of `CHUNK` sources). Such a pair has no
reformulation path: `hops` is 0, its support is the source's own (distinct users who said it, and
how often), and it must pass every later gate of the miner like a path candidate, with a stricter
meaning gate (`min_neighbour_meaning`). Where a source also has a path candidate that survives the
gates, the path wins: users showed that it is the same request.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from selflearn_assets.lib.markov.chain import AbsorbingChain, distinct_users
from selflearn_assets.lib.markov.params import MarkovParams

CHUNK = 2048  # sources per block of the similarity matrix


def neighbour_candidates(
    chain: AbsorbingChain, success: np.ndarray, sources: np.ndarray, params: MarkovParams
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """(source_id, target_id, hops=0, support_users, support_sessions, support_transitions) of
    neighbour pairs, and the exact distinct users of the targets and sources it considered (by id)."""
    eps = 1e-12
    n = chain.n_states
    maybe_targets = np.flatnonzero(
        ~chain.dangling & (success >= params.min_target_success - eps) & (chain.users_upper >= params.min_users)
    )
    maybe_sources = sources[chain.users_upper[sources] >= params.min_users]
    empty = pl.DataFrame(schema={"src_id": pl.Int64, "dst_id": pl.Int64, "n_days": pl.Int64, "users_upper": pl.Int64})
    ids = np.unique(np.concatenate([maybe_targets, maybe_sources]))
    users = np.zeros(n, dtype=np.int64)
    if ids.size:
        users[ids] = distinct_users(chain, empty, ids)[1]
    targets = maybe_targets[users[maybe_targets] >= params.min_users]
    srcs = maybe_sources[users[maybe_sources] >= params.min_users]
    if targets.size == 0 or srcs.size == 0:
        return _frame([], [], chain, users), users, targets
    target_texts = chain.texts.gather(targets).to_list()
    pairs_s, pairs_t = [], []
    for lo in range(0, srcs.size, CHUNK):
        block = srcs[lo : lo + CHUNK]
        scores = process.cdist(
            chain.texts.gather(block).to_list(),
            target_texts,
            scorer=fuzz.ratio,
            score_cutoff=params.neighbour_char_cutoff,
            dtype=np.uint8,
            workers=1,
        )
        rows, cols = np.nonzero(scores)
        keep = block[rows] != targets[cols]
        pairs_s.append(block[rows][keep])
        pairs_t.append(targets[cols][keep])
    return _frame(np.concatenate(pairs_s), np.concatenate(pairs_t), chain, users), users, targets


def _frame(src, tgt, chain: AbsorbingChain, users: np.ndarray) -> pl.DataFrame:
    src = np.asarray(src, dtype=np.int64)
    tgt = np.asarray(tgt, dtype=np.int64)
    said = chain.utterances[src].astype(np.int64)
    return pl.DataFrame(
        {
            "source_id": src,
            "target_id": tgt,
            "hops": np.zeros(src.size, dtype=np.int64),
            "support_users": users[src],
            "support_sessions": said,
            "support_transitions": said,
        }
    )

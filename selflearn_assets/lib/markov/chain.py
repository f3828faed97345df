"""The absorbing Markov chain of a window: utterance states, transition probabilities, window counts.

States are the distinct normalised utterances of the window's organic rows (src, and dst unless
absorbing), numbered 0..n-1 in text order. For transient state i with organic outgoing count
N_i = Σ_dst n_transitions(i → dst):

- Q_ij = n(i → j) / N_i, transient → transient (j may be i: the user repeated the same words);
- r_success_i = n(i → SUCCESS) / N_i, r_failure_i = n(i → FAILURE) / N_i.

A state seen only as a dst has N_i = 0: its chain continued outside the window or was cut short.
It is treated as ending in FAILURE (r_failure = 1): with no evidence that it works it can never be
a rewrite target, and the states leading to it are judged by what is known.

Rows with an empty src or dst (nothing left after normalisation) are left out.

The chain keeps the window counts the selection needs: per transient edge, transitions and sessions
(sums over days), the number of day rows, and `users_upper`, the sum of the day lists' lengths (the
exact distinct-user count for a one-day edge, an upper bound otherwise); per state, the same upper
bound over all its rows. Exact distinct users (the union of day lists) are taken by `edge_users`
and `state_users` for the few edges and states that need them, by reading the rows again.

The rows stay lazy: pass a `pl.scan_parquet(...)` and they are streamed, never held in memory;
peak memory is then about the states' texts, the edges and Q.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from selflearn_assets.lib.markov.rows import (
    DST,
    FAILURE,
    N_SESSIONS,
    N_TRANSITIONS,
    REWRITTEN,
    SRC,
    SUCCESS,
    USERS,
)

SUCCESS_ID = -1
FAILURE_ID = -2


@dataclass(frozen=True)
class AbsorbingChain:
    """The window's chain; `edges` are its transient edges, sorted by (src_id, dst_id)."""

    texts: pl.Series  # state id -> normalised utterance
    q: sp.csr_matrix  # transient -> transient probabilities
    r_success: np.ndarray
    r_failure: np.ndarray  # 1.0 for dangling states
    utterances: np.ndarray  # N_i: organic outgoing transitions (times the utterance was said)
    users_upper: np.ndarray  # per state: sum of its rows' day-list lengths (>= distinct users)
    dangling: np.ndarray  # bool: state never seen as a src in the window
    edges: pl.DataFrame  # src_id, dst_id, n_transitions, n_sessions, n_days, users_upper
    organic: pl.LazyFrame  # the rows the chain is built from (read again for exact user counts)

    @property
    def n_states(self) -> int:
        return len(self.texts)


def organic_rows(rows: pl.LazyFrame) -> pl.LazyFrame:
    """The rows a chain is built from: not rewritten by the runtime, with non-empty texts."""
    return rows.filter(~pl.col(REWRITTEN) & (pl.col(SRC) != "") & (pl.col(DST) != ""))


def build_chain(rows: pl.LazyFrame | pl.DataFrame) -> AbsorbingChain:
    """The chain of a window (rows already through `rows.window_frame`)."""
    organic = organic_rows(rows.lazy())
    is_absorbing = pl.col(DST).is_in([SUCCESS, FAILURE])
    texts = (
        pl.concat(
            [
                organic.select(pl.col(SRC).alias("text")),
                organic.filter(~is_absorbing).select(pl.col(DST).alias("text")),
            ]
        )
        .unique()
        .sort("text")
        .collect()
        .to_series()
    )
    n = len(texts)
    ids = pl.LazyFrame({"text": texts, "id": np.arange(n, dtype=np.int32)})
    grouped = (
        organic.select(SRC, DST, N_TRANSITIONS, N_SESSIONS, pl.col(USERS).list.len().alias("n_users"))
        .join(ids.rename({"text": SRC, "id": "src_id"}), on=SRC, how="left")
        .join(ids.rename({"text": DST, "id": "dst_id"}), on=DST, how="left")
        .select(
            "src_id",
            pl.when(pl.col(DST) == SUCCESS)
            .then(SUCCESS_ID)
            .when(pl.col(DST) == FAILURE)
            .then(FAILURE_ID)
            .otherwise("dst_id")
            .cast(pl.Int32)
            .alias("dst_id"),
            N_TRANSITIONS,
            N_SESSIONS,
            "n_users",
        )
        .group_by("src_id", "dst_id")
        .agg(
            pl.col(N_TRANSITIONS).sum(),
            pl.col(N_SESSIONS).sum(),
            pl.len().cast(pl.Int32).alias("n_days"),
            pl.col("n_users").sum().cast(pl.Int64).alias("users_upper"),
        )
        .collect()
    )
    src = grouped["src_id"].to_numpy()
    dst = grouped["dst_id"].to_numpy()
    count = grouped[N_TRANSITIONS].to_numpy()
    utterances = np.bincount(src, weights=count, minlength=n)
    users_upper = np.bincount(src, weights=grouped["users_upper"].to_numpy(), minlength=n)
    dangling = utterances == 0
    per_src = np.where(dangling, 1.0, utterances)
    r_success = np.bincount(src[dst == SUCCESS_ID], weights=count[dst == SUCCESS_ID], minlength=n) / per_src
    r_failure = np.bincount(src[dst == FAILURE_ID], weights=count[dst == FAILURE_ID], minlength=n) / per_src
    r_failure[dangling] = 1.0
    del src, dst, count
    edges = grouped.filter(pl.col("dst_id") >= 0).sort("src_id", "dst_id")
    del grouped
    src = edges["src_id"].to_numpy()
    # Edges are sorted by (src, dst): the CSR arrays are their columns, no COO round trip.
    indptr = np.searchsorted(src, np.arange(n + 1, dtype=src.dtype)).astype(np.int64)
    probability = edges[N_TRANSITIONS].to_numpy() / per_src[src]
    q = sp.csr_matrix((probability, edges["dst_id"].to_numpy(), indptr), shape=(n, n))
    return AbsorbingChain(
        texts=texts,
        q=q,
        r_success=r_success,
        r_failure=r_failure,
        utterances=utterances.astype(np.int64),
        users_upper=users_upper.astype(np.int64),
        dangling=dangling,
        edges=edges,
        organic=organic,
    )


def edge_users(chain: AbsorbingChain, edges: pl.DataFrame) -> np.ndarray:
    """Exact window distinct users of the given edges (src_id, dst_id, n_days, users_upper), in
    their order: the union of the day lists where an edge spans several days."""
    users = edges["users_upper"].to_numpy().copy()
    multi = edges.select("src_id", "dst_id", "n_days").with_row_index("_at").filter(pl.col("n_days") > 1)
    if multi.height:
        keys = multi.select(
            "_at", chain.texts.gather(multi["src_id"]).alias(SRC), chain.texts.gather(multi["dst_id"]).alias(DST)
        )
        exact = _distinct_users(chain, keys, [SRC, DST])
        users[exact["_at"].to_numpy()] = exact["n"].to_numpy()
    return users.astype(np.int64)


def state_users(chain: AbsorbingChain, state_ids: np.ndarray) -> np.ndarray:
    """Exact window distinct users who said each given utterance (over its organic src rows)."""
    state_ids = np.asarray(state_ids, dtype=np.int64)
    keys = pl.DataFrame({"_at": np.arange(state_ids.size), SRC: chain.texts.gather(state_ids)})
    users = np.zeros(state_ids.size, dtype=np.int64)
    if state_ids.size:
        exact = _distinct_users(chain, keys, [SRC])
        users[exact["_at"].to_numpy()] = exact["n"].to_numpy()
    return users


def _distinct_users(chain: AbsorbingChain, keys: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    """Per key row (`_at`, *on): distinct user ids over the organic rows matching it."""
    return (
        chain.organic.select(*on, USERS)
        .join(keys.lazy(), on=on, how="inner")
        .explode(USERS)
        .group_by("_at")
        .agg(pl.col(USERS).drop_nulls().n_unique().alias("n"))
        .collect()
    )

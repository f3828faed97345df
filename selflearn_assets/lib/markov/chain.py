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
bound over all its rows. Exact distinct users (the union of day lists) are taken by
`distinct_users` for the few edges and states that need them, in one more pass over the rows.

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
    rows_per_state: np.ndarray  # per state: its organic rows in the window
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
    rows_per_state = np.bincount(src, weights=grouped["n_days"].to_numpy(), minlength=n)
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
    index_type = np.int32 if edges.height < 2**31 else np.int64
    indptr = np.searchsorted(src, np.arange(n + 1, dtype=src.dtype)).astype(index_type)
    probability = edges[N_TRANSITIONS].to_numpy() / per_src[src]
    q = sp.csr_matrix((probability, edges["dst_id"].to_numpy(), indptr), shape=(n, n))
    return AbsorbingChain(
        texts=texts,
        q=q,
        r_success=r_success,
        r_failure=r_failure,
        utterances=utterances.astype(np.int64),
        users_upper=users_upper.astype(np.int64),
        rows_per_state=rows_per_state.astype(np.int64),
        dangling=dangling,
        edges=edges,
        organic=organic,
    )


def distinct_users(
    chain: AbsorbingChain, edges: pl.DataFrame, state_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact window distinct users of the given edges (src_id, dst_id, n_days, users_upper) and of
    the given states (who said the utterance, over its organic src rows), in their order.

    A one-day edge or a one-row state has its list's length; the others take the union of their
    day lists, all in one pass over the rows (narrowed by src text before the finer matches)."""
    edge_users = edges["users_upper"].to_numpy().astype(np.int64)
    state_ids = np.asarray(state_ids, dtype=np.int64)
    state_users = chain.users_upper[state_ids].astype(np.int64)
    multi_edges = np.flatnonzero(edges["n_days"].to_numpy() > 1)
    multi_states = np.flatnonzero(chain.rows_per_state[state_ids] > 1)
    if multi_edges.size == 0 and multi_states.size == 0:
        return edge_users, state_users
    edge_keys = pl.DataFrame(
        {
            "_edge": multi_edges,
            SRC: chain.texts.gather(edges["src_id"].gather(multi_edges)),
            DST: chain.texts.gather(edges["dst_id"].gather(multi_edges)),
        }
    )
    state_keys = pl.DataFrame({"_state": multi_states, SRC: chain.texts.gather(state_ids[multi_states])})
    # Narrow by a 64-bit hash of src first (cheap; a collision only lets an extra row through to
    # the exact text joins below), so the string joins see only the rows of wanted utterances.
    wanted = pl.concat([edge_keys.select(SRC), state_keys.select(SRC)]).unique().select(pl.col(SRC).hash())
    picked = (
        chain.organic.select(SRC, DST, USERS)
        .filter(pl.col(SRC).hash().is_in(wanted.to_series().implode()))
        .join(state_keys.lazy(), on=SRC, how="left")
        .join(edge_keys.lazy(), on=[SRC, DST], how="left")
        .filter(pl.col("_edge").is_not_null() | pl.col("_state").is_not_null())
        .select("_edge", "_state", pl.col(USERS))
        .collect()
        .explode(USERS)
    )
    for key, counts in (("_edge", edge_users), ("_state", state_users)):
        exact = (
            picked.filter(pl.col(key).is_not_null())
            .group_by(key)
            .agg(pl.col(USERS).drop_nulls().n_unique().alias("n"))
        )
        counts[exact[key].to_numpy()] = exact["n"].to_numpy()
    return edge_users, state_users

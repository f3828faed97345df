"""The rewrite table of a window: chain → absorption probabilities → one rewrite per failing utterance.

`mine_rewrites(window_rows, params, deployed)` returns the table to export and load at runtime, one
row per source utterance:

| column               | meaning                                                                     |
|----------------------|-----------------------------------------------------------------------------|
| rewrite_id           | stable id: hex BLAKE2b, 8-byte digest, of source_text + "\\x1f" + rewrite_text |
| source_text          | the failing normalised utterance                                            |
| rewrite_text         | the utterance to run instead                                                |
| source_success_prob  | P(source_text succeeds as said): its transitions straight into SUCCESS     |
| rewrite_success_prob | P(chain ends in SUCCESS | the user says rewrite_text): absorption probability|
| confidence           | P(θ_rewrite > θ_source) under Beta(1 + s, 1 + N − s) posteriors: N the times |
|                      | the utterance was said in the window, s its successes (the source's direct  |
|                      | ones; for the rewrite, round(rewrite_success_prob · N))                      |
| support_users        | distinct users on the path's weakest edge (>= min_users)                    |
| support_sessions     | sessions on the path's weakest edge                                         |
| support_transitions  | transitions on the path's weakest edge (>= min_support_transitions)         |
| target_users         | distinct users who said rewrite_text (>= min_users)                         |
| hops                 | reformulations from source to rewrite along the path (1..max_hops)          |
| meaning_score        | how well the rewrite keeps the source's meaning (`meaning.py`), 0..1        |
| gold_turns           | audit gold turns of the window that said the source (0 without evidence)    |
| gold_right           | of those, the turns whose intended request the rewrite expresses            |
| precision            | calibrated precision on audit gold (`precision.py`); null without evidence  |
| origin               | `mined` in this window, or `deployed` (a live rewrite the self-aware rule   |
|                      | kept, carried over unchanged from `deployed`)                               |

With `deployed` (the live table: rewrite_id, source_text, rewrite_text, and any of the columns above),
each live rewrite is judged by `self_aware.evaluate_deployed`: a dropped pair is not mined again; a
kept one stays and takes precedence over a newly mined rewrite of the same source (its evidence
comes from live traffic), unless the miner chose the same pair, which is then refreshed. A newly mined
rewrite that would chain with a kept one (its target is a kept source, or its source a kept target) is
dropped (`chain_or_cycle`), so the merged table, like a mined one, has no utterance that is both a
source and a target.

`window_rows` may be lazy (`pl.scan_parquet`): the rows are then streamed, not held in memory.
The report holds counts and timings for asset metadata (plain ints, floats, strings and dicts):
rows read / rewritten / with empty text, states, transient edges, dangling and trapped states,
components (count, largest, solved by which method), the solve's max residual, seconds for build,
solve and selection (everything after the solve), sources considered, candidate pairs, rewrites,
sources rejected per reason, the parameters, and with `deployed` the self-aware verdict counts.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import polars as pl
import pyarrow as pa

from selflearn_assets.lib.markov.chain import AbsorbingChain, build_chain
from selflearn_assets.lib.markov.params import MarkovParams
from selflearn_assets.lib.markov.posterior import prob_beta_greater
from selflearn_assets.lib.markov.precision import GoldEvidence
from selflearn_assets.lib.markov.rows import DST, REWRITTEN, SRC, window_frame
from selflearn_assets.lib.markov.select import REASONS, select_rewrites
from selflearn_assets.lib.markov.self_aware import evaluate_deployed
from selflearn_assets.lib.markov.solve import absorption_probabilities

REWRITE_COLUMNS = {
    "rewrite_id": pl.String,
    "source_text": pl.String,
    "rewrite_text": pl.String,
    "source_success_prob": pl.Float64,
    "rewrite_success_prob": pl.Float64,
    "confidence": pl.Float64,
    "support_users": pl.Int64,
    "support_sessions": pl.Int64,
    "support_transitions": pl.Int64,
    "target_users": pl.Int64,
    "hops": pl.Int64,
    "meaning_score": pl.Float64,
    "gold_turns": pl.Int64,
    "gold_right": pl.Int64,
    "precision": pl.Float64,
    "origin": pl.String,
}


def rewrite_id(source_text: str, rewrite_text: str) -> str:
    """Stable id of a rewrite pair: the same in every run, process and Python version."""
    return hashlib.blake2b(f"{source_text}\x1f{rewrite_text}".encode(), digest_size=8).hexdigest()


def mine_rewrites(
    window_rows: pl.DataFrame | pl.LazyFrame | pa.Table,
    params: MarkovParams | None = None,
    deployed: pl.DataFrame | None = None,
    evidence: GoldEvidence | None = None,
    locales: dict[str, str] | None = None,
) -> tuple[pl.DataFrame, dict]:
    """The rewrite table of the window's `markov_transitions` rows, and a report of how it was made.

    `evidence`: the window's audit gold (`precision.GoldEvidence`) for the precision gate; `locales`:
    normalised text → its turns' locale, for the meaning gate's phonetics (English when absent)."""
    params = params or MarkovParams()
    started = time.perf_counter()
    rows = window_frame(window_rows)
    n_read, n_rewritten, n_empty = (
        rows.select(
            pl.len(),
            pl.col(REWRITTEN).sum(),
            ((pl.col(SRC) == "") | (pl.col(DST) == "")).sum(),
        )
        .collect()
        .row(0)
    )

    chain = build_chain(rows)
    built = time.perf_counter()
    absorption = absorption_probabilities(
        chain.q, chain.r_success, chain.r_failure, params.dense_max, params.lu_max
    )
    p = absorption.success

    decisions = evaluate_deployed(rows, deployed, params) if deployed is not None else None
    blocked = None
    if decisions is not None:
        dropped = decisions.filter(pl.col("decision") == "drop")
        blocked = _pairs_to_ids(chain.texts, dropped["source_text"], dropped["rewrite_text"])
    direct = chain.r_success  # P(src -> SUCCESS) as said: the source's own success probability
    selection = select_rewrites(
        chain, p, params, blocked, source_success=direct, evidence=evidence, locales=locales
    )
    mined = _describe(chain, p, direct, selection.rewrites, params)
    table, n_chained = _merge_deployed(mined, deployed, decisions) if decisions is not None else (mined, 0)
    selection.rejected["chain_or_cycle"] = selection.rejected.get("chain_or_cycle", 0) + n_chained
    finished = time.perf_counter()

    report = {
        "n_rows": int(n_read),
        "n_rows_rewritten": int(n_rewritten or 0),
        "n_rows_empty_text": int(n_empty or 0),
        "n_states": chain.n_states,
        "n_transient_edges": chain.edges.height,
        "n_dangling_states": int(chain.dangling.sum()),
        "n_trapped_states": absorption.n_trapped,
        "n_components": absorption.n_components,
        "largest_component": absorption.largest_component,
        "components_by_method": {k: int(v) for k, v in absorption.components_by_method.items()},
        "max_residual": absorption.max_residual,
        "build_seconds": round(built - started, 4),
        "solve_seconds": round(absorption.seconds, 4),
        "select_seconds": round(finished - built - absorption.seconds, 4),
        "total_seconds": round(finished - started, 4),
        "n_sources": selection.n_sources,
        "n_candidates": selection.n_candidates,
        "n_mined": mined.height,
        "n_rewrites": table.height,
        "n_rejected_by_reason": {r: int(selection.rejected.get(r, 0)) for r in REASONS},
        "gold_evidence_turns": evidence.turns.height if evidence is not None else 0,
        "precision_strata": selection.strata,
        "params": params.as_dict(),
    }
    if decisions is not None:
        report["self_aware"] = {
            "n_deployed": decisions.height,
            "n_kept": int((decisions["decision"] == "keep").sum()),
            "n_dropped": int((decisions["decision"] == "drop").sum()),
            "n_insufficient_evidence": int((decisions["reason"] == "insufficient_evidence").sum()),
        }
    return table, report


def _describe(
    chain: AbsorbingChain, p: np.ndarray, direct: np.ndarray, chosen: pl.DataFrame, params: MarkovParams
) -> pl.DataFrame:
    """Texts, probabilities, confidence and ids of the chosen (source_id, target_id) pairs."""
    if chosen.height == 0:
        return pl.DataFrame(schema=REWRITE_COLUMNS)
    src = chosen["source_id"].to_numpy()
    tgt = chosen["target_id"].to_numpy()
    # Successes as counts: the source's are its transitions into SUCCESS; the target's, its chain
    # success probability times the times it was said, rounded (integer Beta parameters).
    n_src, n_tgt = chain.utterances[src], chain.utterances[tgt]
    s_src, s_tgt = np.rint(direct[src] * n_src), np.rint(p[tgt] * n_tgt)
    confidence = prob_beta_greater(
        1 + s_tgt, 1 + n_tgt - s_tgt, 1 + s_src, 1 + n_src - s_src, nodes=params.quadrature_nodes
    )
    source_text = chain.texts.gather(src)
    rewrite_text = chain.texts.gather(tgt)
    ids = [rewrite_id(s, t) for s, t in zip(source_text.to_list(), rewrite_text.to_list(), strict=True)]
    table = chosen.select(
        pl.Series("rewrite_id", ids, dtype=pl.String),
        source_text.alias("source_text"),
        rewrite_text.alias("rewrite_text"),
        pl.Series("source_success_prob", direct[src]),
        pl.Series("rewrite_success_prob", p[tgt]),
        pl.Series("confidence", confidence),
        "support_users",
        "support_sessions",
        "support_transitions",
        "target_users",
        "hops",
        "meaning_score",
        "gold_turns",
        "gold_right",
        "precision",
        pl.lit("mined").alias("origin"),
    )
    return table.with_columns(pl.col(c).cast(t) for c, t in REWRITE_COLUMNS.items()).sort("source_text")


def _pairs_to_ids(texts: pl.Series, sources: pl.Series, targets: pl.Series) -> pl.DataFrame:
    ids = pl.DataFrame({"text": texts, "id": np.arange(len(texts), dtype=np.int64)})
    pairs = pl.DataFrame({"source_text": sources, "rewrite_text": targets})
    return (
        pairs.join(ids.rename({"text": "source_text", "id": "source_id"}), on="source_text")
        .join(ids.rename({"text": "rewrite_text", "id": "target_id"}), on="rewrite_text")
        .select("source_id", "target_id")
    )


def _merge_deployed(
    mined: pl.DataFrame, deployed: pl.DataFrame, decisions: pl.DataFrame
) -> tuple[pl.DataFrame, int]:
    """Mined rewrites, with kept live rewrites taking their source's place (see the module docstring),
    and how many mined rewrites were dropped because they would chain with a kept live one."""
    kept = decisions.filter(pl.col("decision") == "keep").select("source_text", "rewrite_text")
    refreshed = mined.join(kept, on=["source_text", "rewrite_text"], how="semi")
    carried = (
        deployed.join(kept, on=["source_text", "rewrite_text"], how="semi")
        .join(refreshed, on="source_text", how="anti")
        .unique("source_text", keep="first", maintain_order=True)
        .with_columns(
            [pl.lit(None, dtype=t).alias(c) for c, t in REWRITE_COLUMNS.items() if c not in deployed.columns]
        )
        .with_columns(pl.lit("deployed").alias("origin"))
        .select([pl.col(c).cast(t) for c, t in REWRITE_COLUMNS.items()])
    )
    fresh = mined.join(carried, on="source_text", how="anti")
    # A kept live rewrite has live evidence, so it wins over a newly mined rewrite that would chain
    # with it (x → source of a live rewrite, or live target → y): the table stays free of chains and
    # cycles, like a freshly mined one.
    chained = pl.col("rewrite_text").is_in(carried["source_text"].implode()) | pl.col("source_text").is_in(
        carried["rewrite_text"].implode()
    )
    n_chained = fresh.filter(chained).height
    fresh = fresh.filter(~chained)
    return pl.concat([fresh, carried]).sort("source_text"), n_chained

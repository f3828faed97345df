"""The online rewriter's latency at 1M global entries, on one core, against brute force; what the static encoder
costs in ranking quality against the transformer it is distilled from.

    python bench/online_latency.py --work /tmp/online_bench            # 1,000,000 entries (index build: minutes)
    python bench/online_latency.py --work /tmp/online_bench --quick    # 100,000 entries, a smoke run
    python bench/online_latency.py --work /tmp/online_bench --quick --no-http   # without the HTTP figure (d)

**The entries** are real embeddings of request texts: the simulator's world rendered (every phrasing of every
intent over the catalog's entities and their known aliases; the personal world's towns, twin towns, named devices,
playlists and contacts; polite wrappers of the catalog requests) and the real SLURP sentences of `../shared/data`
when present, until `--entries` distinct normalised texts. The texts are encoded by the static encoder distilled
from all-MiniLM-L6-v2 with the texts' own words in its vocabulary (`static_encoder.distill`, cached under `--work`).
Their popularity and success columns are drawn from a seeded RNG (every entry is a candidate); the bench user has
1,000 personal entries (their own contacts, playlists, devices and places, and requests everyone says). The ranker
is trained on weak examples retrieved from these layers (misspelt / shortened index texts -> the text, index texts
-> nothing): its **cost** is measured here, not its quality. Everything is written as an online bundle
(`bundle.write_bundle`) in a subprocess, once per `--entries` (`--rebuild` to redo), then loaded as the service
loads it (`load_bundle`: sha256 check, memory-mapped indexes and vectors).

**Latency**, single request at a time, the process pinned to one core (`sched_setaffinity`, one torch / OpenMP / BLAS
thread, usearch searches on one thread), on held-out paraphrases (an index text with one word dropped or misspelt,
never itself in the index), `--requests` per repeat, a fresh query set for every repeat and stage (so no
per-pair cache is warm), median over `--repeats` of each repeat's p50 / p99:
(a) encoding (`StaticEncoder.encode_one`); (b) retrieval + ranking given the embedding, as `Rewriter` does it
(`Layers.retrieve`, `feature_matrix`, `Ranker.choose`), with its three parts; (c) end to end through
`Rewriter.rewrite` (user id pseudonymised, normalisation, table, encoding, retrieval, ranking, decision).
Throughput is requests per second of (c) on that core. Beside the wall clock, the CPU time of the request's thread
(`time.thread_time`) for (b) and (c): the machine is shared, and a wall-clock p99 includes time other processes
held the core. The same (b) and (c) with **brute force** in place of
both usearch indexes (exact numpy search over float32 vectors), on `--brute-requests` per repeat.
(d), `--http` (the default): the requests of (c), one at a time, to the real service: `selflearn serve` started as
its own process on 127.0.0.1 and a free port, serving the same bundle (`_http_client.ServedBundle`: its own
SELFLEARN_HOME linked to the bundle's exports root, the bench's key, one OpenMP / BLAS thread, pinned to the same
core as (c)), timed only once `/health` names the bundle (`--http-timeout`) and after the same 200 warm-up
requests; the client is `http.client` on one keep-alive connection, on the other core (a client is another
machine's work), timing request, response and JSON parsing. Reported beside (c): p50 / p99, requests/s, the
overhead over (c)'s median, the service's own `rewrite()` quantiles (`/metrics`), its CPU per request, and whether
its answers are the Python API's (200 requests compared field by field). The server is terminated however the
bench ends.
**Recall@10** of each ANN index against exact search on 500 held-out queries, as the export gate counts it
(`vector_index.recall_at_k`: a returned neighbour whose exact similarity is within `TIE_TOLERANCE` of the 10th exact
one counts, so ties at the 10th place are fair) with the plain overlap of the two top-10 lists beside it, over a
sweep of expansion_search; and the export gate's own measure (`build.index_recalls`: both indexes, entries with a
word or a letter dropped). **Memory**: usearch `memory_usage` of each index when
built (the served ones are memory-mapped files), their file sizes, and the serving process's RSS (now and peak).

**Encoder quality**: mined-pair-like pairs (a misheard or short request -> the text meant) from four sources:
the catalog's fixed ASR confusions, the names users say that ER does not know (aliases), contact names misheard by
a speaker's accent (`personal.accent_of`), and real SLURP recordings whose ASR 1-best differs from the sentence.
The intended text is in the index, the request is not. Reported: the rank of the intended text among all entries
with the static encoder, and, on a pool (every sampled intended text, each query's 30 nearest entries by the
static encoder, 30 entries sharing the query's longest word, 10,000 random entries), the rank with the static
encoder and with the torch MiniLM encoder (`load_encoder` + mean pooling, `embed_texts`). Encoding all entries
with the transformer takes about an hour on two cores, hence the pool; the pool holds the static encoder's hard
negatives but only the lexical ones of the transformer, so the transformer's pool rank flatters it a little.
The transformer's single-request latency on one core is reported beside.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from _http_client import Client, ServedBundle, server_quantiles  # noqa: E402
from _online_world import CORPUS, DAY, KEY, SEED, USER, build, held_out, peak_rss, quality_pairs  # noqa: E402

from selflearn_assets.lib.online.build import index_recalls  # noqa: E402
from selflearn_assets.lib.online.bundle import Bundle, bundle_folder, load_bundle  # noqa: E402
from selflearn_assets.lib.online.char_channel import char_vector, char_vectors  # noqa: E402
from selflearn_assets.lib.online.features import feature_matrix  # noqa: E402
from selflearn_assets.lib.online.layers import CHAR_K, GLOBAL_K  # noqa: E402
from selflearn_assets.lib.online.runtime import Rewriter, pseudonymize  # noqa: E402
from selflearn_assets.lib.online.vector_index import (  # noqa: E402
    Hits,
    VectorIndex,
    exact_kth,
    exact_search,
    recall_at_k,
)
from selflearn_assets.lib.simulator import SimConfig, world_of  # noqa: E402

# ---------------------------------------------------------------- measurement


class ExactIndex:
    """Brute force with `VectorIndex.search`'s interface: exact cosine top-k over float32 unit vectors."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, vector: np.ndarray, k: int) -> Hits:
        sims = self.vectors @ np.asarray(vector, dtype=np.float32)
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return Hits(top.astype(np.int64), sims[top])


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _ms(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def rank_given_embedding(
    bundle: Bundle, text: str, vector: np.ndarray, user: str
) -> tuple[float, float, float, float]:
    """Retrieval, features and ranking of one request as `Rewriter._online` does them: wall seconds of each,
    and CPU seconds of the three together."""
    layers = bundle.layers
    c0, t0 = time.thread_time(), time.perf_counter()
    candidates = layers.retrieve(text, vector, user, use_personal=True)
    t1 = time.perf_counter()
    x = feature_matrix(layers, text, user, candidates)
    t2 = time.perf_counter()
    if candidates:
        bundle.ranker.choose(x)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, time.thread_time() - c0


STAGES = ("encode", "retrieve+rank", "retrieve", "ann", "features", "ranker", "end to end")


def measure_stages(bundle: Bundle, rewriter: Rewriter, sets: list[list[str]]) -> dict[str, list]:
    """Per stage, each repeat's (p50, p99) of wall time, and of CPU time ("... cpu"); sets alternate: (a)+(b) on
    one, (c) on the next. "ann": the two index searches of `Layers.retrieve`, timed apart after it."""
    user = pseudonymize(KEY, USER)
    layers = bundle.layers
    out: dict[str, list] = {k: [] for k in (*STAGES, "retrieve+rank cpu", "end to end cpu", "throughput")}
    for r in range(len(sets) // 2):
        times: dict[str, list[float]] = {k: [] for k in out if k != "throughput"}
        for q in sets[2 * r]:
            t = time.perf_counter()
            v = bundle.encoder.encode_one(q)
            times["encode"].append(time.perf_counter() - t)
            a, b, c, cpu = rank_given_embedding(bundle, q, v, user)
            times["retrieve"].append(a)
            times["features"].append(b)
            times["ranker"].append(c)
            times["retrieve+rank"].append(a + b + c)
            times["retrieve+rank cpu"].append(cpu)
            t = time.perf_counter()
            layers.index.search(v, GLOBAL_K + 1)
            layers.char_index.search(char_vector(q), CHAR_K + 1)
            times["ann"].append(time.perf_counter() - t)
        for q in sets[2 * r + 1]:
            c0, t = time.thread_time(), time.perf_counter()
            rewriter.rewrite(USER, q)
            times["end to end"].append(time.perf_counter() - t)
            times["end to end cpu"].append(time.thread_time() - c0)
        for k, v in times.items():
            out[k].append(_ms(v))
        out["throughput"].append(len(times["end to end"]) / sum(times["end to end"]))
    return out


def measure_http(
    rewriter: Rewriter,
    sets: list[list[str]],
    warm: list[str],
    folder: Path,
    log_path: Path,
    timeout: float,
    allowed: set[int],
) -> dict:
    """(d): the requests of (c) (every second set), one at a time over HTTP to `selflearn serve` pinned to the
    calling thread's core, the client on another of the `allowed` cores when there is one; per repeat (p50, p99)
    and throughput, as `measure_stages`, and what the module docstring lists beside them."""
    server_cpus = os.sched_getaffinity(0)
    others = allowed - server_cpus
    client_cpus = {min(others)} if others else server_cpus
    out: dict = {"end to end": [], "throughput": []}
    answers: list[dict] = []
    with ServedBundle(folder, KEY, log_path, cpus=server_cpus, timeout=timeout) as server:
        client = Client(server.host, server.port)
        os.sched_setaffinity(0, client_cpus)
        try:
            for q in warm:
                client.rewrite(USER, q)
            cpu_before = server.cpu_seconds()
            for r in range(len(sets) // 2):
                times = []
                for q in sets[2 * r + 1]:
                    t = time.perf_counter()
                    answer = client.rewrite(USER, q)
                    times.append(time.perf_counter() - t)
                    if len(answers) < 200:
                        answers.append(answer)
                out["end to end"].append(_ms(times))
                out["throughput"].append(len(times) / sum(times))
            timed = sum(len(sets[2 * r + 1]) for r in range(len(sets) // 2))
            out["server cpu"] = (server.cpu_seconds() - cpu_before) / timed * 1000
            out["server rewrite"] = server_quantiles(client.get("/metrics"))
        finally:
            os.sched_setaffinity(0, server_cpus)
            client.close()
        out |= {"connections": client.connections, "port": server.port, "startup": server.startup_seconds}
    out["cpus"] = (sorted(server_cpus), sorted(client_cpus))
    python = [json.loads(json.dumps(rewriter.rewrite(USER, q).as_dict())) for q in sets[1][: len(answers)]]
    out["same"] = (sum(a == b for a, b in zip(python, answers, strict=True)), len(answers))
    return out


def _median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p for p, _ in pairs), statistics.median(q for _, q in pairs)


# usearch expansion_search values swept; the served one is the index's own
EXPANSIONS = (64, 96, 128, 192, 256)


def recall(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> dict[int, tuple]:
    """Per expansion_search: (recall@k as the export gate counts it, `recall_at_k`: a neighbour tied with the
    k-th exact one counts; the plain overlap with exact search's own top k; p50 and p99 CPU ms of one search)."""
    kth = exact_kth(vectors, queries, k)
    truth = [set(exact_search(vectors, q, k).tolist()) for q in queries]
    served = index.index.expansion_search
    out = {}
    for ef in sorted({*EXPANSIONS, served}):
        index.index.expansion_search = ef
        found, times = 0, []
        for q, want in zip(queries, truth, strict=True):
            t = time.thread_time()
            keys = index.search(q, k).keys
            times.append(time.thread_time() - t)
            found += len(set(keys.tolist()) & want)
        gate = recall_at_k(index, vectors, k=k, queries=queries, kth=kth)
        out[ef] = (gate, found / (len(queries) * k), *_ms(times))
    index.index.expansion_search = served
    return out


def torch_latency(texts: list[str]) -> tuple[float, float]:
    from selflearn_assets.lib.models.encoder import embed_texts, load_encoder

    tokenizer, model = load_encoder(None)
    for t in texts[:20]:
        embed_texts(tokenizer, model, [t], progress=False)
    times = []
    for t in texts[20:]:
        start = time.perf_counter()
        embed_texts(tokenizer, model, [t], progress=False)
        times.append(time.perf_counter() - start)
    return _ms(times)


def encoder_quality(bundle: Bundle, g32: np.ndarray, pairs: list[tuple[str, str, str]], seed: int) -> dict:
    """Per source and encoder: (top-1, top-10, median rank, MRR) of the intended text; see the module docstring."""
    import torch

    from selflearn_assets.lib.models.encoder import embed_texts, load_encoder
    from selflearn_assets.lib.online.static_encoder import unit_rows

    layers = bundle.layers
    pairs = [p for p in pairs if p[1] not in layers.g_row and p[2] in layers.g_row]
    targets = np.array([layers.g_row[m] for _, _, m in pairs])
    q_static = bundle.encoder.encode([q for _, q, _ in pairs])
    full_rank = np.zeros(len(pairs), dtype=np.int64)
    near: list[np.ndarray] = []
    for start in range(0, len(pairs), 64):
        sims = g32 @ q_static[start : start + 64].T
        for j in range(sims.shape[1]):
            col = sims[:, j]
            full_rank[start + j] = 1 + int((col > col[targets[start + j]]).sum())
            near.append(np.argpartition(-col, 30)[:30])
        del sims
    rng = np.random.default_rng(seed)
    text_col = layers.global_entries["text"]
    lexical = []
    for _, q, _ in pairs:
        word = max(q.split(), key=len)
        hits = np.flatnonzero(text_col.str.contains(word, literal=True).to_numpy())
        lexical.append(rng.choice(hits, size=min(30, len(hits)), replace=False) if len(hits) else hits)
    pool = np.unique(
        np.concatenate([targets, *near, *lexical, rng.choice(len(g32), size=10_000, replace=False)])
    )
    pool_texts = [layers.g_text[r] for r in pool.tolist()]
    where = {int(r): i for i, r in enumerate(pool.tolist())}
    t = time.perf_counter()
    tokenizer, model = load_encoder(None)
    torch.set_num_threads(1)  # two OpenMP threads on two shared cores can be far slower than one
    p_torch = unit_rows(embed_texts(tokenizer, model, pool_texts, batch_size=256, progress=False))
    q_torch = unit_rows(embed_texts(tokenizer, model, [q for _, q, _ in pairs], progress=False))
    torch_seconds = time.perf_counter() - t
    pool_static = g32[pool]

    def ranks(pool_vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
        sims = queries @ pool_vectors.T
        own = sims[np.arange(len(pairs)), [where[int(r)] for r in targets]]
        return 1 + (sims > own[:, None]).sum(axis=1)

    by_encoder = {
        "static, all entries": full_rank,
        "static, pool": ranks(pool_static, q_static),
        "torch MiniLM, pool": ranks(p_torch, q_torch),
    }
    sources = sorted({s for s, _, _ in pairs})
    table = {}
    for name, r in by_encoder.items():
        for source in [*sources, "all"]:
            m = np.array([s == source or source == "all" for s, _, _ in pairs])
            rs = r[m]
            table[(name, source)] = (
                float((rs == 1).mean()),
                float((rs <= 10).mean()),
                float(np.median(rs)),
                float((1.0 / rs).mean()),
                int(m.sum()),
            )
    return {"table": table, "pool": len(pool), "torch_seconds": torch_seconds, "pairs": len(pairs)}


def measure(
    entries: int,
    work: Path,
    folder: Path,
    corpus: Path,
    requests: int,
    repeats: int,
    brute_requests: int,
    http_timeout: float | None = 300.0,
) -> None:
    """Everything the module docstring lists; (d) over HTTP unless `http_timeout` is None."""
    from threadpoolctl import threadpool_limits

    built = json.loads((work / f"build-{entries}.json").read_text())
    t = time.perf_counter()
    bundle = load_bundle(folder)
    load_seconds = time.perf_counter() - t
    layers = bundle.layers
    rewriter = Rewriter(bundle, None, KEY)
    texts = layers.g_text
    indexed = set(texts)
    rss_loaded = _rss()
    print(
        f"measure: bundle of {len(texts):,} entries loaded in {load_seconds:.1f} s, RSS {rss_loaded / 2**30:.2f} GiB",
        flush=True,
    )

    g32 = np.asarray(layers.g_vectors, dtype=np.float32)
    cat, _ = world_of(SimConfig())
    quality = encoder_quality(bundle, g32, quality_pairs(cat, corpus, SEED), SEED)
    print(
        f"measure: encoder quality on {quality['pairs']} pairs, torch pool {quality['pool']:,} in "
        f"{quality['torch_seconds']:.0f} s",
        flush=True,
    )

    rng = random.Random(SEED + 2)
    taken: set[str] = set()
    warm = [q for q, _ in held_out(texts, indexed, 200, rng, taken)]
    sets = [[q for q, _ in held_out(texts, indexed, requests, rng, taken)] for _ in range(2 * repeats)]
    brute_sets = [
        [q for q, _ in held_out(texts, indexed, brute_requests, rng, taken)] for _ in range(2 * repeats)
    ]
    recall_queries = bundle.encoder.encode([q for q, _ in held_out(texts, indexed, 500, rng, taken)])
    recall_chars = np.stack([char_vector(q) for q, _ in held_out(texts, indexed, 500, rng, taken)])

    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    load_before = os.getloadavg()[0]
    import torch

    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        for q in warm:
            rewriter.rewrite(USER, q)
        ann = measure_stages(bundle, rewriter, sets)
        print("measure: ANN latency done", flush=True)
        http = None
        if http_timeout is not None:
            log_path = work / f"serve-{entries}.log"
            http = measure_http(rewriter, sets, warm, folder, log_path, http_timeout, allowed)
            print(f"measure: HTTP latency done (server log {log_path})", flush=True)
        exact_emb = ExactIndex(g32)
        exact_chars = ExactIndex(char_vectors(texts))
        ann_index, ann_chars = layers.index, layers.char_index
        layers.index, layers.char_index = exact_emb, exact_chars
        brute = measure_stages(bundle, rewriter, brute_sets)
        layers.index, layers.char_index = ann_index, ann_chars
        print("measure: brute force latency done", flush=True)
        rec_emb = recall(ann_index, g32, recall_queries)
        rec_chars = recall(ann_chars, exact_chars.vectors, recall_chars)
        rec_gate = index_recalls(layers, 500, bundle.encoder)
        torch_ms = torch_latency(sets[0][:220])
    report(
        entries,
        built,
        load_seconds,
        rss_loaded,
        ann,
        brute,
        (rec_emb, rec_chars, rec_gate, ann_index.index.expansion_search),
        torch_ms,
        load_before,
        quality,
        folder,
        requests,
        repeats,
        brute_requests,
        http,
    )


def report(
    entries,
    built,
    load_seconds,
    rss_loaded,
    ann,
    brute,
    recalls,
    torch_ms,
    load_before,
    quality,
    folder,
    requests,
    repeats,
    brute_requests,
    http=None,
) -> None:
    gib = 2**30
    load_after = os.getloadavg()[0]
    lines = [
        "",
        f"online rewriter, {entries:,} global entries (real static embeddings of rendered request texts), "
        f"1,000 personal entries; one core, one thread; 1-min load average {load_before:.2f} before the latency "
        f"runs, {load_after:.2f} after, on {os.cpu_count()} shared cores",
        f"latency: {requests:,} held-out paraphrases per repeat and stage, median of {repeats} repeats of p50 / p99; "
        f"brute force: {brute_requests} per repeat",
        "",
        f"{'stage':<46}{'ANN p50':>9}{'ANN p99':>9}{'CPU p99':>9}{'brute p50':>10}{'brute p99':>10}"
        f"{'target':>11}{'met':>5}",
    ]
    targets = {"retrieve+rank": 2.0, "end to end": 10.0}
    names = {
        "encode": "(a) encoding (static, encode_one)",
        "retrieve+rank": "(b) retrieval + ranking given the embedding",
        "retrieve": "    of which Layers.retrieve",
        "ann": "      its 2 usearch searches (timed apart)",
        "features": "    of which feature_matrix",
        "ranker": "    of which Ranker.choose",
        "end to end": "(c) end to end, Rewriter.rewrite",
    }
    for k, name in names.items():
        a, b = _median(ann[k]), _median(brute[k])
        cpu = f"{_median(ann[k + ' cpu'])[1]:>7.2f}ms" if k + " cpu" in ann else f"{'':>9}"
        target = targets.get(k)
        met = ("yes" if a[1] <= target else "no") if target else ""
        goal = f"p99<={target:.0f}ms" if target else ""
        lines.append(
            f"{name:<46}{a[0]:>7.2f}ms{a[1]:>7.2f}ms{cpu}{b[0]:>8.2f}ms{b[1]:>8.2f}ms{goal:>11}{met:>5}"
        )
    if http:
        h = _median(http["end to end"])
        lines.append(f"{'(d) end to end over HTTP, POST /rewrite':<46}{h[0]:>7.2f}ms{h[1]:>7.2f}ms")
    lines.append(
        f"{'throughput, one core (requests/s)':<46}{statistics.median(ann['throughput']):>9.0f}{'':>18}"
        f"{statistics.median(brute['throughput']):>10.1f}"
    )
    if http:
        lines.append(
            f"{'throughput over HTTP, one client (requests/s)':<46}{statistics.median(http['throughput']):>9.0f}"
        )
    lines.append(
        f"{'torch MiniLM encoding alone, one request':<46}{torch_ms[0]:>7.2f}ms{torch_ms[1]:>7.2f}ms"
    )
    if http:
        c, h = _median(ann["end to end"]), _median(http["end to end"])
        server_cpu, client_cpu = (",".join(map(str, cpus)) for cpus in http["cpus"])
        q = {k: v * 1000 for k, v in http["server rewrite"].items()}
        same, compared = http["same"]
        lines += [
            "",
            f"HTTP (d): `selflearn serve` (uvicorn) as its own process on 127.0.0.1:{http['port']}, core "
            f"{server_cpu}, one OpenMP / BLAS thread, serving this bundle (up in {http['startup']:.1f} s); client "
            f"http.client on core {client_cpu}, {http['connections']} keep-alive connection(s); the requests of (c), "
            "one at a time, after 200 warm-up requests",
            f"  overhead over (c) Rewriter.rewrite: p50 {h[0] - c[0]:+.2f} ms ({h[0] / c[0]:.2f}x its median), "
            f"p99 {h[1] - c[1]:+.2f} ms; the service's own rewrite() p50 / p99 {q.get(0.5, float('nan')):.2f} / "
            f"{q.get(0.99, float('nan')):.2f} ms (/metrics, warm-up included); server CPU per request "
            f"{http['server cpu']:.2f} ms (mean); answers identical to Rewriter.rewrite on {same}/{compared}",
        ]
    rec_emb, rec_chars, rec_gate, served = recalls
    lines += [
        "",
        f"recall@10 vs exact, 500 held-out queries, served expansion_search {served} (ties with the 10th exact "
        f"neighbour count, `recall_at_k`; plain top-10 overlap in brackets): embedding index "
        f"{rec_emb[served][0]:.4f} ({rec_emb[served][1]:.4f}), char-trigram index {rec_chars[served][0]:.4f} "
        f"({rec_chars[served][1]:.4f}); export gate's measure (entries with a word or letter dropped): "
        f"embedding {rec_gate['embedding']:.4f}, char {rec_gate['char']:.4f} (target >= 0.95)",
        "  expansion_search sweep (recall@10 (overlap), CPU p50 / p99 of one search): "
        + "; ".join(
            f"ef {ef}: embedding {rec_emb[ef][0]:.3f} ({rec_emb[ef][1]:.3f}) {rec_emb[ef][2]:.2f}/"
            f"{rec_emb[ef][3]:.2f} ms, char {rec_chars[ef][0]:.3f} ({rec_chars[ef][1]:.3f}) "
            f"{rec_chars[ef][2]:.2f}/{rec_chars[ef][3]:.2f} ms"
            for ef in sorted(rec_emb)
        ),
    ]
    mem = built["index_memory"]
    files = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
    lines.append(
        f"memory: usearch memory_usage when built: embedding index {mem['embedding index'] / gib:.2f} GiB, "
        f"char index {mem['char index'] / gib:.2f} GiB; served memory-mapped from files of "
        f"{files.get('global.usearch', 0) / gib:.2f} + {files.get('global_char.usearch', 0) / gib:.2f} GiB, "
        f"vectors {files.get('global_vectors.npy', 0) / gib:.2f} GiB"
    )
    lines.append(
        f"process RSS: {rss_loaded / gib:.2f} GiB after loading the bundle, {_rss() / gib:.2f} GiB now "
        f"(with float32 copies for brute force and quality), peak {peak_rss() / gib:.2f} GiB; "
        f"build process peak {built['peak_rss'] / gib:.2f} GiB"
    )
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in built["timings"].items())
    lines.append(f"build (2 threads): {timings}; bundle load (sha256 check, Layers) {load_seconds:.1f} s")
    lines.append(
        f"ranker: {built['ranker_trees']} trees, trained on weak examples from these synthetic layers: "
        "its cost is measured here, not its quality"
    )
    lines += [
        "",
        f"encoder quality: rank of the intended text ({quality['pairs']} pairs; pool of {quality['pool']:,} "
        f"entries, torch-encoded in {quality['torch_seconds']:.0f} s on one thread)",
        f"{'encoder, over':<24}{'source':<18}{'n':>5}{'top-1':>8}{'top-10':>8}{'median':>8}{'MRR':>7}",
    ]
    for (enc, source), (top1, top10, med, mrr, n) in quality["table"].items():
        lines.append(f"{enc:<24}{source:<18}{n:>5}{top1:>8.1%}{top10:>8.1%}{med:>8.0f}{mrr:>7.3f}")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 entries, a smoke run")
    ap.add_argument("--work", type=Path, default=Path("/tmp/online_latency"))
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--requests", type=int, default=2000, help="held-out requests per repeat and stage")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--brute-requests", type=int, default=100, help="per repeat, brute force (~0.2 s each at 1M)"
    )
    ap.add_argument("--rebuild", action="store_true", help="build the bundle again even if --work has it")
    ap.add_argument(
        "--http",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="(d): the requests of (c) over HTTP to `selflearn serve` on loopback",
    )
    ap.add_argument(
        "--http-timeout", type=float, default=300.0, help="seconds to wait for the server's /health"
    )
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    entries = 100_000 if args.quick else args.entries
    args.work.mkdir(parents=True, exist_ok=True)
    folder = bundle_folder(args.work / f"exports-{entries}", DAY)
    if args.build_only:
        build(entries, args.work, folder, args.corpus)
        return 0
    if args.rebuild or not (args.work / f"build-{entries}.json").is_file():
        cmd = [
            sys.executable,
            __file__,
            "--build-only",
            "--entries",
            str(entries),
            "--work",
            str(args.work),
            "--corpus",
            str(args.corpus),
        ]
        subprocess.run(cmd, check=True)
    measure(
        entries,
        args.work,
        folder,
        args.corpus,
        args.requests,
        args.repeats,
        args.brute_requests,
        args.http_timeout if args.http else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

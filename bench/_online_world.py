"""The online latency bench's world: the texts of its global entries, the bench user's personal entries, the
mined-pair-like pairs the encoder's quality is measured on, held-out paraphrases, and the bundle built from them.

    from _online_world import SEED, build, held_out, quality_pairs
    build(entries, work, folder, corpus)  # render, encode, index, train the ranker, write the bundle (minutes)
    pairs = quality_pairs(cat, corpus, SEED)  # (source, request as heard or said, the text meant)
    queries = held_out(texts, set(texts), 500, random.Random(SEED), taken=set())

The texts are the simulator's world rendered (every phrasing of every intent over the catalog's entities and their
known aliases, polite wrappers of those requests, the personal world's contacts, playlists and devices) and the
real SLURP sentences of `CORPUS` (the shared corpus root beside this checkout, `../shared/data`) when present.
Everything is drawn from seeded RNGs (`SEED`), so a build and a later measuring process agree on the world.
`online_latency.py` says what is measured on it.
"""

from __future__ import annotations

import gc
import json
import random
import resource
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selflearn_assets.lib.markov.normalize import normalize_utterance  # noqa: E402
from selflearn_assets.lib.online import training  # noqa: E402
from selflearn_assets.lib.online.bundle import write_bundle  # noqa: E402
from selflearn_assets.lib.online.char_channel import char_vectors  # noqa: E402
from selflearn_assets.lib.online.layers import Layers  # noqa: E402
from selflearn_assets.lib.online.ranker import RankerConfig, train_ranker  # noqa: E402
from selflearn_assets.lib.online.runtime import pseudonymize  # noqa: E402
from selflearn_assets.lib.online.static_encoder import StaticEncoder, distill, log_vocabulary  # noqa: E402
from selflearn_assets.lib.online.vector_index import VectorIndex  # noqa: E402
from selflearn_assets.lib.simulator import SimConfig, world_of  # noqa: E402
from selflearn_assets.lib.simulator.intents import INTENTS, PERSONAL_INTENT_BY_KEY  # noqa: E402
from selflearn_assets.lib.simulator.personal import accent_of  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data"
KEY = "bench-key"
USER = "bench-user"
DAY = date(2026, 1, 1)
SEED = 14
WRAPPERS = ("{} please", "please {}", "can you {}", "could you {}", "i want you to {}", "{} now", "hey {}")
# requests a prefix wrapper may go in front of ("can you play ...", not "can you what's the weather")
IMPERATIVES = frozenset(
    "play put throw pause stop skip turn watch show read resume continue keep set switch kill "
    "make start cancel add order buy reorder tell find give call phone dial shuffle".split()
)
PAIRS_PER_SOURCE = 100


# ---------------------------------------------------------------- texts of the world


def _fill(template: str, values: dict[str, str]) -> str:
    return normalize_utterance(template.format(**values))


def catalog_requests(cat) -> list[tuple[str, str]]:
    """(text, intent) for every phrasing of every intent over the catalog's entities and their known aliases."""
    ents = cat.entities
    names = {k: [(ents[i].name, *ents[i].aliases_known) for i in idxs] for k, idxs in cat.by_kind.items()}
    world = cat.personal
    if world is not None:  # small towns and twin towns are cities too (outside by_kind)
        towns = world.towns + [i for pair in world.twins for i in pair]
        names["city"] = names["city"] + [(ents[i].name, *ents[i].aliases_known) for i in towns]
    out = []
    for intent in INTENTS:
        for ph in intent.phrasings:
            if not ph.slots:
                out.append((_fill(ph.template, {}), intent.key))
            elif ph.slots == ("artist", "song"):
                for i in cat.by_kind["song"]:
                    song = ents[i]
                    out.append(
                        (
                            _fill(ph.template, {"song": song.name, "artist": ents[song.parent].name}),
                            intent.key,
                        )
                    )
            elif len(ph.slots) == 2:
                a, b = ph.slots
                for na in names[a]:
                    for nb in names[b]:
                        out.append((_fill(ph.template, {a: na[0], b: nb[0]}), intent.key))
            else:
                (slot,) = ph.slots
                for group in names[slot]:
                    out.extend((_fill(ph.template, {slot: n}), intent.key) for n in group)
        out.extend((_fill(t, {}), intent.key) for t in intent.my_phrasings)
    return out


def personal_request(world, kind: str, pos: int, phrasing: int) -> tuple[str, str]:
    """The `phrasing`-th way of asking for the thing at `pos` of a personal name space."""
    name = world.name_of(kind, pos)[0]
    if kind == "contact":
        intents = [PERSONAL_INTENT_BY_KEY["communication.call"]]
    elif kind == "playlist":
        intents = [PERSONAL_INTENT_BY_KEY["music.play_playlist"]]
    else:
        intents = [
            PERSONAL_INTENT_BY_KEY["smart_home.turn_on"],
            PERSONAL_INTENT_BY_KEY["smart_home.turn_off"],
        ]
    phrasings = [(i, p) for i in intents for p in i.phrasings]
    intent, ph = phrasings[phrasing % len(phrasings)]
    return _fill(ph.template, {ph.slots[0]: name}), intent.key


def corpus_sentences(corpus: Path) -> list[tuple[str, str]]:
    path = corpus / "slurp" / "dataset" / "slurp" / "test.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out.append((normalize_utterance(row["sentence"]), f"{row['scenario']}.{row['action']}"))
    return out


def render_texts(n: int, cat, corpus: Path, forced: list[tuple[str, str]], seed: int) -> pl.DataFrame:
    """`n` distinct normalised request texts with their intent: `forced` first, then a seeded mixture of the
    catalog's requests, their polite wrappers, the SLURP sentences and the personal name spaces."""
    rng = np.random.default_rng(seed)
    world = cat.personal
    base = catalog_requests(cat)
    finite = {"catalog": base, "corpus": corpus_sentences(corpus)}
    spaces = {
        "contact": (world.sizes["contact"], 4),
        "playlist": (world.sizes["playlist"], 4),
        "device": (world.sizes["device"], 6),
        "wrapper": (len(base), len(WRAPPERS)),
    }
    weights = {
        "catalog": 0.2,
        "corpus": 0.01,
        "wrapper": 0.2,
        "playlist": 0.2,
        "contact": 0.34,
        "device": 0.05,
    }
    orders = {k: iter(rng.permutation(len(v)).tolist()) for k, v in finite.items()}
    orders |= {k: iter(rng.permutation(size * ways).tolist()) for k, (size, ways) in spaces.items()}
    seen: dict[str, str] = {}
    for text, intent in forced:
        seen.setdefault(text, intent)
    live = [k for k in weights if (k not in finite or finite[k])]
    while len(seen) < n and live:
        p = np.array([weights[k] for k in live])
        for k in rng.choice(live, size=4096, p=p / p.sum()).tolist():
            j = next(orders[k], None)
            if j is None:
                if k in live:
                    live.remove(k)
                continue
            if k in finite:
                text, intent = finite[k][j]
            elif k == "wrapper":
                (text, intent), wrap = base[j // len(WRAPPERS)], WRAPPERS[j % len(WRAPPERS)]
                if not wrap.startswith("{") and text.split(" ", 1)[0] not in IMPERATIVES:
                    wrap = "{} please"
                text = normalize_utterance(wrap.format(text))
            else:
                ways = spaces[k][1]
                text, intent = personal_request(world, k, j // ways, j % ways)
            if text:
                seen.setdefault(text, intent)
            if len(seen) >= n:
                break
    texts = sorted(seen)
    return pl.DataFrame({"text": texts, "intent": [seen[t] for t in texts]})


# ---------------------------------------------------------------- mined-pair-like pairs and held-out paraphrases


def quality_pairs(cat, corpus: Path, seed: int) -> list[tuple[str, str, str]]:
    """(source, request as heard or said, the text meant), `PAIRS_PER_SOURCE` of each source, seeded."""
    rng = random.Random(seed)
    ents = cat.entities
    phrasings = {}
    for intent in INTENTS:
        for ph in intent.phrasings:
            if len(ph.slots) == 1:
                phrasings.setdefault(ph.slots[0], []).append(ph.template)
    confused, alias = [], []
    for kind, idxs in sorted(cat.by_kind.items()):
        for i in idxs:
            ent = ents[i]
            if kind not in phrasings:
                continue
            template = phrasings[kind][i % len(phrasings[kind])]
            meant = _fill(template, {kind: ent.name})
            if ent.confusion:
                confused.append(("asr confusion", _fill(template, {kind: ent.confusion}), meant))
            for a in ent.aliases_unknown:
                alias.append(("unknown alias", _fill(template, {kind: a}), meant))
    world = cat.personal
    accents = []
    for _ in range(PAIRS_PER_SOURCE * 2):
        pos = rng.randrange(world.sizes["contact"])
        name = world.name_of("contact", pos)[0]
        order = rng.sample(range(20), 20)
        heard = accent_of(name, order)
        if heard != name:
            accents.append(("contact accent", f"call {heard}", f"call {name}"))
    slurp = []
    path = corpus / "slurp" / "dataset" / "slurp" / "test.jsonl"
    preds = corpus / "slurp" / "experiments" / "predictions" / "multi_slurp_hermit_predictions.jsonl"
    if path.is_file() and preds.is_file():
        asr = {}
        for line in preds.read_text().splitlines():
            row = json.loads(line)
            asr[row["file"]] = row["text"]
        for line in path.read_text().splitlines():
            row = json.loads(line)
            meant = normalize_utterance(row["sentence"])
            for rec in row["recordings"]:
                heard = normalize_utterance(asr.get(rec["file"], "").replace(" '", "'"))
                if heard and heard != meant and "unknown" not in heard.split():
                    slurp.append(("slurp asr", heard, meant))
    out = []
    for group in (confused, alias, accents, slurp):
        group = sorted(set(group))
        out.extend(rng.sample(group, min(PAIRS_PER_SOURCE, len(group))))
    return out


_VOWELS = "aeiou"


def perturb(text: str, rng: random.Random) -> str:
    """The text with one word dropped (texts of 3+ words) or one word of 4+ letters misspelt."""
    words = text.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if len(words) >= 3 and (rng.random() < 0.4 or not long_words):
        del words[rng.randrange(1, len(words))]
        return " ".join(words)
    if not long_words:
        return ""
    i = rng.choice(long_words)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    how = rng.randrange(4)
    if how == 0:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif how == 1:
        w = w[:j] + w[j + 1 :]
    elif how == 2:
        w = w[:j] + w[j] + w[j:]
    else:
        vowels = [k for k, c in enumerate(w) if c in _VOWELS]
        k = rng.choice(vowels) if vowels else j
        w = w[:k] + rng.choice([v for v in _VOWELS if v != w[k]]) + w[k + 1 :]
    words[i] = w
    return " ".join(words)


def held_out(
    texts: list[str], indexed: set[str], n: int, rng: random.Random, taken: set[str]
) -> list[tuple[str, str]]:
    """`n` (paraphrase, the index text it came from), none of them in the index or in `taken` (which grows)."""
    out = []
    while len(out) < n:
        source = texts[rng.randrange(len(texts))]
        query = perturb(source, rng)
        if query and query not in indexed and query not in taken:
            taken.add(query)
            out.append((query, source))
    return out


# ---------------------------------------------------------------- personal entries and ranker requests


def personal(cat, texts: list[str], users: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """The bench user's 1,000 entries: their own things (contacts, playlists, devices, places), then requests
    everyone says, by popularity."""
    world = cat.personal
    own: dict[str, str] = {}
    for kind, count in (("contact", 6), ("playlist", 3), ("device", 4)):
        for pos in rng.choice(world.sizes[kind], size=count, replace=False).tolist():
            for phrasing in range(4):
                text, intent = personal_request(world, kind, pos, phrasing)
                own[text] = intent
    for idx in rng.choice(world.towns, size=2, replace=False).tolist():
        for template in ("what's the weather in {}", "weather in {}", "what's the temperature in {}"):
            own[normalize_utterance(template.format(cat.entities[idx].name))] = "weather.get_weather"
    p = users / users.sum()
    for row in rng.choice(len(texts), size=3000, replace=False, p=p).tolist():
        if len(own) >= 1000:
            break
        own.setdefault(texts[row], "")
    n = len(own)
    frame = pl.DataFrame(
        {
            "user_id": [pseudonymize(KEY, USER)] * n,
            "text": list(own),
            "uses": 1 + rng.poisson(3.0, n),
            "success_rate": rng.beta(6, 1.2, n),
            "last_day": [DAY] * n,
            "intent": [v or None for v in own.values()],
            "slots": pl.Series([None] * n, dtype=pl.String),
        }
    )
    return frame.with_columns(candidate=pl.col("success_rate") >= 0.7).sort("user_id", "text")


def ranker_requests(texts: list[str], indexed: set[str], p: pl.DataFrame) -> pl.DataFrame:
    """Weak requests for the ranker (`training.weak_requests`' columns): 800 misspelt / shortened index texts
    (target: the text), 200 of the user's own texts (target: it), 1,000 index texts (no target). No target
    interpretation: only the target text itself is a positive."""
    rng = random.Random(SEED + 1)
    taken: set[str] = set()
    rows = held_out(texts, indexed, 800, rng, taken)
    mine = p["text"].to_list()
    rows += held_out(mine, indexed, 200, rng, taken)
    rows += [(texts[rng.randrange(len(texts))], None) for _ in range(1000)]
    user = pseudonymize(KEY, USER)
    none = [None] * len(rows)
    return pl.DataFrame(
        {
            "user_id": [user] * len(rows),
            "text": [q for q, _ in rows],
            "target": [s for _, s in rows],
            "target_intent": none,
            "target_slots": none,
        },
        schema=training.REQUEST_COLUMNS,
    )


# ---------------------------------------------------------------- build (a subprocess)


def build(entries: int, work: Path, folder: Path, corpus: Path) -> None:
    """Render, encode, index, train the ranker and write the bundle; timings in its manifest."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cat, _ = world_of(SimConfig())
    pairs = quality_pairs(cat, corpus, SEED)
    frame = render_texts(entries, cat, corpus, [(meant, "") for _, _, meant in pairs], SEED)
    texts = frame["text"].to_list()
    timings["render texts"] = time.perf_counter() - t
    print(f"build: {len(texts):,} texts in {timings['render texts']:.0f} s", flush=True)

    encoder_folder = work / f"encoder-{entries}"
    t = time.perf_counter()
    try:
        encoder = StaticEncoder(encoder_folder)
    except (OSError, ValueError):  # not distilled yet, or by another version of static_encoder
        import shutil

        import torch

        shutil.rmtree(encoder_folder, ignore_errors=True)

        # one thread: two OpenMP threads on two shared cores slow the forward passes down a hundredfold
        torch.set_num_threads(1)
        distill(None, encoder_folder, log_vocabulary(texts))
        timings["distil encoder"] = time.perf_counter() - t
        print(f"build: encoder distilled in {timings['distil encoder']:.0f} s", flush=True)
        encoder = StaticEncoder(encoder_folder)
    t = time.perf_counter()
    vectors = np.zeros((len(texts), encoder.dim), dtype=np.float16)
    for start in range(0, len(texts), 50_000):
        vectors[start : start + 50_000] = encoder.encode(texts[start : start + 50_000])
    timings["encode entries"] = time.perf_counter() - t
    t = time.perf_counter()
    chars = char_vectors(texts)
    timings["char vectors"] = time.perf_counter() - t
    print(
        f"build: encoded in {timings['encode entries']:.0f} s, char vectors {timings['char vectors']:.0f} s",
        flush=True,
    )

    rng = np.random.default_rng(SEED)
    n = len(texts)
    users = 3 + np.floor(rng.lognormal(1.0, 1.3, n)).astype(np.int64)
    g = frame.with_columns(
        users=pl.Series(users),
        turns=pl.Series(users * (1 + rng.poisson(1.5, n))),
        success_rate=pl.Series(0.7 + 0.3 * rng.beta(4, 1.2, n)),
        slots=pl.lit(None, dtype=pl.String),
        from_markov=pl.Series(rng.random(n) < 0.01),
        candidate=pl.lit(True),
    ).select("text", "users", "turns", "success_rate", "intent", "slots", "from_markov", "candidate")
    rows = np.arange(n, dtype=np.int64)
    t = time.perf_counter()
    index = VectorIndex.build(vectors, keys=rows, threads=2)
    timings["index build (embeddings)"] = time.perf_counter() - t
    print(f"build: embedding index in {timings['index build (embeddings)']:.0f} s", flush=True)
    t = time.perf_counter()
    char_index = VectorIndex.build(chars, keys=rows, threads=2)
    timings["index build (char trigrams)"] = time.perf_counter() - t
    print(f"build: char index in {timings['index build (char trigrams)']:.0f} s", flush=True)
    memory = {
        "embedding index": int(index.index.memory_usage),
        "char index": int(char_index.index.memory_usage),
    }
    del chars
    gc.collect()

    p = personal(cat, texts, g["users"].to_numpy(), rng)
    t = time.perf_counter()
    layers = Layers(g, vectors, p, encoder.encode(p["text"].to_list()), index=index, char_index=char_index)
    timings["layers (text maps, phonetic keys)"] = time.perf_counter() - t

    t = time.perf_counter()
    requests = ranker_requests(texts, set(texts), p)
    found = training.examples(layers, encoder, requests)
    ranker, report = train_ranker(found.x, found.y, found.groups, RankerConfig())
    timings["ranker examples + training"] = time.perf_counter() - t
    print(
        f"build: ranker on {report['examples']:,} examples ({report['positives']} positive) in "
        f"{timings['ranker examples + training']:.0f} s",
        flush=True,
    )

    t = time.perf_counter()
    manifest = {
        "bench": {
            "timings": timings,
            "index_memory": memory,
            "ranker": report,
            "ranker_trees": int(ranker.model.n_iter_),
        }
    }
    write_bundle(folder.parents[1], DAY, layers, encoder_folder, ranker, manifest)
    timings["bundle write"] = time.perf_counter() - t
    path = work / f"build-{entries}.json"
    path.write_text(
        json.dumps(
            {
                "timings": timings,
                "index_memory": memory,
                "ranker_trees": int(ranker.model.n_iter_),
                "peak_rss": peak_rss(),
            }
        )
    )
    print(f"build: bundle written in {timings['bundle write']:.0f} s", flush=True)


def peak_rss() -> int:
    """This process's peak resident set size, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

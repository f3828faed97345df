"""What the ranker scores for each (request, candidate): similarity, evidence for the candidate in each
layer, and evidence that the request itself fails, for everyone or for this user.

Missing evidence is NaN (the gradient-boosted ranker routes it on its own), never a made-up zero: a text the
user never said is not a text that always failed for them.

| feature               | meaning                                                                        |
|-----------------------|--------------------------------------------------------------------------------|
| cos                   | cosine similarity of the two texts' embeddings                                 |
| char_cos              | cosine similarity of their hashed character trigrams (`char_channel`)          |
| meaning               | `markov.meaning.meaning_score`: how well the differing spans sound/spell alike |
| edit_sim              | 1 - normalised Indel distance of the whole texts                               |
| phonetic_sim          | the same on the texts' metaphone keys                                          |
| extends               | every word of the request is in the candidate (it adds detail)                 |
| token_delta           | candidate words - request words                                                |
| by_phonetic           | found through the phonetic channel                                             |
| cand_global_users     | log1p(distinct users who said the candidate) (NaN: not in the global layer)    |
| cand_global_success   | its mean P(success) across users                                               |
| cand_markov           | it is a rewrite target of the Markov table                                     |
| cand_personal_uses    | log1p(times this user said it) (NaN: never)                                    |
| cand_personal_success | its mean P(success) for this user                                              |
| affinity              | the user's uses of the candidate / their uses of all their texts               |
| req_global_users      | log1p(users who said the request) (NaN: said by too few to be global)          |
| req_global_success    | the request's mean P(success) across users                                     |
| req_personal_uses     | log1p(times this user said the request)                                        |
| req_personal_success  | the request's mean P(success) for this user                                    |
| same_domain           | the candidate's usual interpretation has the request's usual domain (NaN: unknown) |
| req_word_support      | log1p(support of the request's least supported word): users of working global  |
|                       | texts that contain it (`Layers.word_support`); a misheard word has little      |
| dropped_word_support  | the same over the request's words the candidate drops (NaN: drops none): a     |
|                       | rewrite that drops well-supported words changes what was asked                 |
"""

from __future__ import annotations

import math

import numpy as np
from rapidfuzz.distance import Indel

from selflearn_assets.lib.markov.meaning import meaning_score
from selflearn_assets.lib.online.layers import Candidate, Layers, phonetic_key

FEATURES = (
    "cos char_cos meaning edit_sim phonetic_sim extends token_delta by_phonetic cand_global_users cand_global_success "
    "cand_markov cand_personal_uses cand_personal_success affinity req_global_users req_global_success "
    "req_personal_uses req_personal_success same_domain req_word_support dropped_word_support"
).split()
NAN = float("nan")


def _domain(intent: str | None) -> str | None:
    return intent.split(".", 1)[0] if intent else None


def _dropped_support(support: dict[str, float], cand_words: list[str]) -> float:
    dropped = [v for w, v in support.items() if w not in cand_words]
    return math.log1p(min(dropped)) if dropped else NAN


def feature_matrix(layers: Layers, text: str, user_id: str | None, candidates: list[Candidate]) -> np.ndarray:
    """One row per candidate, columns in `FEATURES` order."""
    rows = np.full((len(candidates), len(FEATURES)), np.nan, dtype=np.float64)
    if not candidates:
        return rows
    g_req = layers.g_row.get(text)
    block = layers.user(user_id) if user_id is not None else None
    p_req = block.by_text.get(text) if block is not None else None
    total_uses = (
        float(layers.p_uses[block.rows.start : block.rows.stop].sum()) if block and len(block.rows) else 0.0
    )
    req_intent = (layers.p_intent[p_req] if p_req is not None and layers.p_intent[p_req] else None) or (
        layers.g_intent[g_req] if g_req is not None else None
    )
    req_domain = _domain(req_intent)
    req_words = set(text.split())
    req_key = phonetic_key(text)
    support = {w: layers.word_support.get(w, 0.0) for w in req_words}
    req_support = math.log1p(min(support.values())) if support else NAN
    request = [
        math.log1p(layers.g_users[g_req]) if g_req is not None else NAN,
        layers.g_success[g_req] if g_req is not None else NAN,
        math.log1p(layers.p_uses[p_req]) if p_req is not None else NAN,
        layers.p_success[p_req] if p_req is not None else NAN,
    ]
    for i, cand in enumerate(candidates):
        g, p = cand.global_row, cand.personal_row
        words = cand.text.split()
        intent = (layers.p_intent[p] if p is not None else None) or (
            layers.g_intent[g] if g is not None else None
        )
        domain = _domain(intent)
        rows[i] = (
            cand.cos,
            cand.char_cos,
            meaning_score(text, cand.text),
            Indel.normalized_similarity(text, cand.text),
            Indel.normalized_similarity(req_key, phonetic_key(cand.text)),
            float(req_words.issubset(words)),
            len(words) - len(req_words),
            float(cand.by_phonetic),
            math.log1p(layers.g_users[g]) if g is not None else NAN,
            layers.g_success[g] if g is not None else NAN,
            float(layers.g_markov[g]) if g is not None else 0.0,
            math.log1p(layers.p_uses[p]) if p is not None else NAN,
            layers.p_success[p] if p is not None else NAN,
            layers.p_uses[p] / total_uses if p is not None and total_uses else 0.0,
            *request,
            float(domain == req_domain) if domain and req_domain else NAN,
            req_support,
            _dropped_support(support, words),
        )
    return rows

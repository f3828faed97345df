"""The two layers in memory, as the runtime and the ranker's training both query them.

`Layers` holds the global entries (with the ANN index over the candidate texts and a phonetic dictionary)
and the personal entries (per user a contiguous block of rows and their vectors: at most `max_per_user`
rows, so exact search is a ~1000 x 256 product, tens of microseconds). Retrieval for one request returns
`Candidate`s: texts from either or both layers, with where each was found and its cosine similarity. A
rewrite the self-aware rule dropped (`blocked`: source text -> targets, `online.self_aware`) is never a
candidate for that source.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jellyfish
import numpy as np
import polars as pl

from selflearn_assets.lib.online.char_channel import char_vector, char_vectors
from selflearn_assets.lib.online.vector_index import VectorIndex

GLOBAL_K = 10  # nearest global candidates by embedding
CHAR_K = 5  # nearest global candidates by character trigrams
PERSONAL_K = 10  # nearest of the user's own candidates by embedding
PHONETIC_K = 5  # sound-alike global candidates, most popular first
GATHERED_USERS = 64  # users whose personal candidate vectors stay gathered between requests


@lru_cache(maxsize=200_000)
def _token_code(token: str) -> str:
    return jellyfish.metaphone(token) or token


def phonetic_key(text: str) -> str:
    """Metaphone code of each token, joined by spaces: texts that sound alike share it."""
    return " ".join(_token_code(t) for t in text.split())


def _word_support(global_entries: pl.DataFrame) -> dict[str, float]:
    """Per word, the users of the global candidate texts (texts that work) it appears in, summed: a word that
    many people say in requests that work is rarely a mishearing (only words of the global layer, which
    already kept only texts said by >= min_users users)."""
    if not global_entries.height:
        return {}
    words = (
        global_entries.filter(pl.col("candidate"))
        .select(pl.col("text").str.split(" ").list.unique().alias("word"), "users")
        .explode("word")
        .group_by("word")
        .agg(pl.col("users").sum())
    )
    return dict(zip(words["word"].to_list(), words["users"].cast(pl.Float64).to_list(), strict=True))


@dataclass
class Candidate:
    text: str
    cos: float
    global_row: int | None = None
    personal_row: int | None = None
    by_phonetic: bool = False
    char_cos: float = 0.0


@dataclass
class UserBlock:
    rows: range
    by_text: dict[str, int]
    candidate_rows: np.ndarray  # rows whose text works for this user
    by_key: dict[str, list[int]]  # phonetic key -> candidate rows


class Layers:
    def __init__(
        self,
        global_entries: pl.DataFrame,
        global_vectors: np.ndarray,
        personal_entries: pl.DataFrame,
        personal_vectors: np.ndarray,
        index: VectorIndex | None = None,
        char_index: VectorIndex | None = None,
        blocked: pl.DataFrame | None = None,
    ) -> None:
        self.global_entries = global_entries
        self.blocked_pairs = blocked if blocked is not None else pl.DataFrame(
            schema={"source_text": pl.String, "rewrite_text": pl.String}
        )
        self.blocked: dict[str, set[str]] = {}
        for source, target in self.blocked_pairs.select("source_text", "rewrite_text").iter_rows():
            self.blocked.setdefault(source, set()).add(target)
        self.g_text: list[str] = global_entries["text"].to_list()
        self.g_row = {t: i for i, t in enumerate(self.g_text)}
        self.g_users = global_entries["users"].to_numpy().astype(np.float64)
        self.g_success = global_entries["success_rate"].to_numpy().astype(np.float64)
        self.g_candidate = global_entries["candidate"].to_numpy().astype(bool)
        self.g_markov = global_entries["from_markov"].to_numpy().astype(bool)
        self.g_intent: list[str | None] = global_entries["intent"].to_list()
        self.g_slots: list[str | None] = global_entries["slots"].to_list()
        self.g_vectors = global_vectors
        candidate_rows = np.flatnonzero(self.g_candidate)
        self.index = index or VectorIndex.build(global_vectors[candidate_rows], keys=candidate_rows)
        self.char_index = char_index or VectorIndex.build(
            char_vectors([self.g_text[r] for r in candidate_rows]), keys=candidate_rows
        )
        self.word_support = _word_support(global_entries)
        self.g_phonetic: dict[str, list[int]] = {}
        for row in candidate_rows[np.argsort(-self.g_users[candidate_rows], kind="stable")]:
            rows = self.g_phonetic.setdefault(phonetic_key(self.g_text[row]), [])
            if len(rows) < PHONETIC_K:
                rows.append(int(row))

        self.personal_entries = personal_entries
        self.p_text: list[str] = personal_entries["text"].to_list()
        self.p_uses = personal_entries["uses"].to_numpy().astype(np.float64)
        self.p_success = personal_entries["success_rate"].to_numpy().astype(np.float64)
        self.p_candidate = personal_entries["candidate"].to_numpy().astype(bool)
        self.p_intent: list[str | None] = personal_entries["intent"].to_list()
        self.p_slots: list[str | None] = personal_entries["slots"].to_list()
        self.p_vectors = personal_vectors
        self.p_char = char_vectors(self.p_text)
        users = personal_entries["user_id"]
        self.p_blocks: dict[str, range] = {}
        if len(users):
            bounds = (
                personal_entries.with_row_index("row")
                .group_by("user_id", maintain_order=True)
                .agg(start=pl.col("row").min(), end=pl.col("row").max() + 1)
            )
            for user, start, end in bounds.iter_rows():
                self.p_blocks[user] = range(int(start), int(end))
        self._user_cache: dict[str, UserBlock] = {}
        self._gathered: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # least recently used first

    def user(self, user_id: str) -> UserBlock:
        block = self._user_cache.get(user_id)
        if block is None:
            rows = self.p_blocks.get(user_id, range(0))
            candidates = np.fromiter((r for r in rows if self.p_candidate[r]), dtype=np.int64)
            by_key: dict[str, list[int]] = {}
            for r in candidates.tolist():
                by_key.setdefault(phonetic_key(self.p_text[r]), []).append(r)
            block = UserBlock(rows, {self.p_text[r]: r for r in rows}, candidates, by_key)
            if len(self._user_cache) > 10_000:
                self._user_cache.clear()
            self._user_cache[user_id] = block
        return block

    def interpretation(self, cand: Candidate) -> tuple[str | None, str | None]:
        """(intent, slots) the assistant usually gives the candidate's text: this user's own if they said
        it, else everyone's; (None, None) when no successful turn of it shows one."""
        if cand.personal_row is not None and self.p_intent[cand.personal_row]:
            return self.p_intent[cand.personal_row], self.p_slots[cand.personal_row]
        if cand.global_row is not None and self.g_intent[cand.global_row]:
            return self.g_intent[cand.global_row], self.g_slots[cand.global_row]
        return None, None

    def _candidate_vectors(self, user_id: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The user's candidate rows' embeddings and character vectors, gathered once for the
        `GATHERED_USERS` most recent users (up to 2 MB a user: not kept for every user of `_user_cache`)."""
        gathered = self._gathered.pop(user_id, None)
        if gathered is None:
            gathered = (np.asarray(self.p_vectors[rows]), self.p_char[rows])
            if len(self._gathered) >= GATHERED_USERS:
                del self._gathered[next(iter(self._gathered))]
        self._gathered[user_id] = gathered
        return gathered

    def retrieve(
        self, text: str, vector: np.ndarray, user_id: str | None, use_personal: bool = True
    ) -> list[Candidate]:
        """Candidates for rewriting `text` (never `text` itself, nor a rewrite of it the self-aware rule
        dropped), from the global layer and, if asked, the user's own entries."""
        found: dict[str, Candidate] = {}

        def add(cand_text: str, cos: float, phonetic: bool = False) -> Candidate:
            cand = found.get(cand_text)
            if cand is None:
                cand = found[cand_text] = Candidate(cand_text, cos)
            cand.cos = max(cand.cos, cos)
            cand.by_phonetic = cand.by_phonetic or phonetic
            return cand

        hits = self.index.search(vector, GLOBAL_K + 1)
        for row, sim in zip(hits.keys.tolist(), hits.similarities.tolist(), strict=True):
            if self.g_text[row] != text:
                add(self.g_text[row], float(sim)).global_row = row
        query_chars = char_vector(text)
        chars = self.char_index.search(query_chars, CHAR_K + 1)
        for row in chars.keys.tolist():
            if self.g_text[row] != text:
                add(self.g_text[row], float(self.g_vectors[row] @ vector)).global_row = row
        for row in self.g_phonetic.get(phonetic_key(text), ()):
            if self.g_text[row] != text:
                cand = add(self.g_text[row], float(self.g_vectors[row] @ vector), phonetic=True)
                cand.global_row = row
        block = self.user(user_id) if use_personal and user_id is not None else None
        if block is not None:
            rows = block.candidate_rows
            if len(rows):
                vectors, chars = self._candidate_vectors(user_id, rows)
                sims = vectors @ vector
                take = np.argsort(-sims, kind="stable")[: PERSONAL_K + 1]
                char_sims = chars @ query_chars
                char_take = np.argsort(-char_sims, kind="stable")[: CHAR_K + 1]
                chosen = set(rows[take].tolist()) | set(rows[char_take].tolist())
                chosen |= set(block.by_key.get(phonetic_key(text), ()))
                for row in sorted(chosen):
                    if self.p_text[row] != text:
                        add(self.p_text[row], float(self.p_vectors[row] @ vector)).personal_row = row
        blocked = self.blocked.get(text, ())
        candidates = [cand for cand in found.values() if cand.text not in blocked]
        cand_chars = char_vectors([cand.text for cand in candidates])  # one bincount for all candidates
        for cand, cand_char in zip(candidates, cand_chars, strict=True):
            cand.char_cos = float(cand_char @ query_chars)
            if cand.global_row is None:  # a personal text that is also global gets both statistics
                row = self.g_row.get(cand.text)
                if row is not None and self.g_candidate[row]:
                    cand.global_row = row
            if block is not None and cand.personal_row is None:
                cand.personal_row = block.by_text.get(cand.text)
        return candidates

"""The two layers in memory, as the runtime and the ranker's training both query them.

`Layers` holds the global entries (with the ANN index over the candidate texts and a phonetic dictionary)
and the personal entries (per user a contiguous block of rows and their vectors: at most `max_per_user`
rows, so exact search is a ~1000 x 256 product, tens of microseconds). Retrieval for one request returns
`Candidate`s: texts from either or both layers, with where each was found and its cosine similarity.
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


@lru_cache(maxsize=200_000)
def _token_code(token: str) -> str:
    return jellyfish.metaphone(token) or token


def phonetic_key(text: str) -> str:
    """Metaphone code of each token, joined by spaces: texts that sound alike share it."""
    return " ".join(_token_code(t) for t in text.split())


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
    ) -> None:
        self.global_entries = global_entries
        self.g_text: list[str] = global_entries["text"].to_list()
        self.g_row = {t: i for i, t in enumerate(self.g_text)}
        self.g_users = global_entries["users"].to_numpy().astype(np.float64)
        self.g_success = global_entries["success_rate"].to_numpy().astype(np.float64)
        self.g_candidate = global_entries["candidate"].to_numpy().astype(bool)
        self.g_markov = global_entries["from_markov"].to_numpy().astype(bool)
        self.g_intent: list[str | None] = global_entries["intent"].to_list()
        self.g_vectors = global_vectors
        candidate_rows = np.flatnonzero(self.g_candidate)
        self.index = index or VectorIndex.build(global_vectors[candidate_rows], keys=candidate_rows)
        self.char_index = char_index or VectorIndex.build(
            char_vectors([self.g_text[r] for r in candidate_rows]), keys=candidate_rows
        )
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

    def retrieve(
        self, text: str, vector: np.ndarray, user_id: str | None, use_personal: bool = True
    ) -> list[Candidate]:
        """Candidates for rewriting `text` (never `text` itself), from the global layer and, if asked, the
        user's own entries."""
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
        if use_personal and user_id is not None:
            block = self.user(user_id)
            rows = block.candidate_rows
            if len(rows):
                sims = self.p_vectors[rows] @ vector
                take = np.argsort(-sims, kind="stable")[: PERSONAL_K + 1]
                char_sims = self.p_char[rows] @ query_chars
                char_take = np.argsort(-char_sims, kind="stable")[: CHAR_K + 1]
                chosen = set(rows[take].tolist()) | set(rows[char_take].tolist())
                chosen |= set(block.by_key.get(phonetic_key(text), ()))
                for row in sorted(chosen):
                    if self.p_text[row] != text:
                        add(self.p_text[row], float(self.p_vectors[row] @ vector)).personal_row = row
        for cand in found.values():  # a personal text that is also global gets both statistics
            cand.char_cos = float(char_vector(cand.text) @ query_chars)
            if cand.global_row is None:
                row = self.g_row.get(cand.text)
                if row is not None and self.g_candidate[row]:
                    cand.global_row = row
            if use_personal and user_id is not None and cand.personal_row is None:
                cand.personal_row = self.user(user_id).by_text.get(cand.text)
        return list(found.values())

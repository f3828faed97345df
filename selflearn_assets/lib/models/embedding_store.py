"""Turn embeddings persisted across assets and runs, per encoder: each text is encoded once.

Every model asset (training and daily labelling) embeds the same utterances and responses with the same
frozen encoder; without a store, a day's texts were encoded once per asset. The store is a folder of Parquet
shards (text, vector) under `root/<encoder fingerprint>/`; a shard is written to a temporary name and renamed,
so concurrent runs never read half a shard, and a changed encoder (path, config or weight files) gets a new
folder. Lookups are a DuckDB join of the wanted texts against the shards, so the store need not fit in memory.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from selflearn_assets.lib.sql import query_pl


def encoder_fingerprint(model, max_length: int) -> str:
    """A short hash of the encoder's identity: its directory, config, weight files (name, size, mtime) and the
    truncation length (a different length gives different vectors)."""
    path = Path(str(getattr(model.config, "_name_or_path", "") or ""))
    parts = [str(path.resolve()) if str(path) else "", model.config.to_json_string(), str(max_length)]
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if f.suffix in (".safetensors", ".bin", ".pt", ".h5"):
                stat = f.stat()
                parts.append(f"{f.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


class EmbeddingStore:
    """Vectors of one encoder under `root/<fingerprint>/*.parquet`."""

    def __init__(self, root: str | Path, fingerprint: str, dim: int) -> None:
        self.folder = Path(root) / fingerprint
        self.dim = dim

    def _shards(self) -> list[str]:
        return sorted(str(p) for p in self.folder.glob("*.parquet")) if self.folder.is_dir() else []

    def lookup(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those `texts` that are in the store."""
        shards = self._shards()
        wanted = list(dict.fromkeys(texts))
        if not shards or not wanted:
            return {}
        con = duckdb.connect()
        try:
            con.register("_wanted", pl.DataFrame({"text": wanted}, schema={"text": pl.String}).to_arrow())
            found = query_pl(con, "models/stored_embeddings.sql", {"shards": shards})
        finally:
            con.close()
        if found.is_empty():
            return {}
        # one copy of the fixed-size array column (a Python list per vector cost ~46 us each: 4.6 s per 100k)
        column = found["vector"].cast(pl.Array(pl.Float32, self.dim))  # DuckDB hands a list column back
        vectors = np.ascontiguousarray(column.to_numpy(), dtype=np.float32).reshape(found.height, self.dim)
        return dict(zip(found["text"].to_list(), vectors, strict=True))

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Persist newly encoded texts as one shard (atomic rename)."""
        if len(texts) == 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        frame = pl.DataFrame(
            {"text": list(texts), "vector": np.asarray(vectors, dtype=np.float32)},
            schema={"text": pl.String, "vector": pl.Array(pl.Float32, self.dim)},
        )
        name = uuid.uuid4().hex
        tmp = self.folder / f".{name}.tmp"
        frame.write_parquet(tmp)
        os.replace(tmp, self.folder / f"{name}.parquet")

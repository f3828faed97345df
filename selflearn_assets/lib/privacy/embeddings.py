"""A forgotten customer's texts leave the embedding store (`lib/models/embedding_store.py`), unless another
customer's turns have them too.

The store keeps one vector per text (a request or a response, as the encoder embeds it) under
`$SELFLEARN_HOME/embeddings/<encoder fingerprint>/*.parquet`, with no user id: a text is the customer's alone
when no clean turn of anyone else has it (`privacy/texts_still_said.sql`). Each shard holding such a text is
written again without it, to a temporary name and renamed over the shard (as the store writes shards), so a
lookup reads the shard before or after. A text removed is encoded again if it is ever needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

STORE = "embeddings"  # under $SELFLEARN_HOME (defs/resources.py: EncoderConfig.store_dir)


@dataclass(frozen=True)
class ShardChange:
    shard: Path
    texts: int  # texts of the customer's that left it (or would leave it, in a dry run)


def forget_texts(store_root: Path, texts: set[str], dry_run: bool) -> list[ShardChange]:
    """Remove `texts` from every shard of every encoder's store under `store_root`."""
    changes: list[ShardChange] = []
    if not texts or not Path(store_root).is_dir():
        return changes
    wanted = sorted(texts)
    for shard in sorted(Path(store_root).glob("*/*.parquet")):
        stored = pl.read_parquet(shard)
        theirs = stored["text"].is_in(wanted)
        removed = int(theirs.sum())
        if not removed:
            continue
        changes.append(ShardChange(shard, removed))
        if not dry_run:
            tmp = shard.with_name(f".{shard.stem}.forget-{os.getpid()}.tmp")
            stored.filter(~theirs).write_parquet(tmp)
            os.replace(tmp, shard)
    return changes

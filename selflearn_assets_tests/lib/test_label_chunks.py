"""How the labelling stage cuts a day into chunks of whole sessions (lib/labels/chunks.py), by hand."""

import numpy as np
import polars as pl
import pytest

from selflearn_assets.lib.labels import session_chunks
from selflearn_assets.lib.labels.chunks import label_cuts
from selflearn_assets.lib.models.label_model import BATCH_SESSIONS

IDS = pl.Series(["a", "a", "b", "c", "c", "c", "d"])  # sessions end before rows 2, 3, 6 and 7


def test_chunks_end_at_the_first_session_end_past_the_size():
    assert session_chunks(IDS, 2) == [(0, 2), (2, 6), (6, 7)]
    assert session_chunks(IDS, 1) == [(0, 2), (2, 3), (3, 6), (6, 7)]
    assert session_chunks(IDS, 3) == [(0, 3), (3, 6), (6, 7)]
    assert session_chunks(IDS, 100) == [(0, 7)]
    assert session_chunks(IDS.head(0), 5) == []
    assert session_chunks(IDS, 2, cuts=np.array([3])) == [(0, 3), (3, 7)]  # only where allowed
    with pytest.raises(ValueError, match="chunk_turns must be at least 1"):
        session_chunks(IDS, 0)


def test_label_chunks_are_cut_where_the_model_batches_are():
    # s0 has 40 turns: two windows of the model (32 + 8); then one-turn sessions s1.. each one window.
    # Window k >= 2 is session s(k-1) at row 40 + k - 2, so windows 64, 128 (every BATCH_SESSIONS) start at rows
    # 102 and 166.
    assert BATCH_SESSIONS == 64
    ids = pl.Series(["s0"] * 40 + [f"s{i}" for i in range(1, 140)])
    assert label_cuts(ids).tolist() == [102, 166]
    # 63 one-turn sessions, then a 40-turn one: window 64 starts inside it (row 95), where no chunk may end
    inside = pl.Series([f"s{i}" for i in range(63)] + ["long"] * 40)
    assert label_cuts(inside).tolist() == []
    assert session_chunks(inside, 10, label_cuts(inside)) == [(0, 103)]

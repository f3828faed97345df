"""A day labelled in chunks of whole sessions, so that the labelling stage holds one chunk, not the day.

`turn_labels` and `failure_points` predict chunk by chunk (`session_chunks`: about `chunk_turns` turns each,
never a session split across two) and the asset streams each chunk's rows into the day's lake partition
(`store.replace_day` takes an iterator of frames): the encoder's vectors, the model's tensors and the slot
candidates exist for one chunk at a time. What reads the whole day, the crowd evidence of the label model
(what other sessions of the day meant by the same text), is tallied once first in compact form, per text
(`label_features.crowd_day`). The chunks together are the labels of the whole day at once, bit for bit: the
label model's chunks are cut where its batches are (`label_cuts`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from selflearn_assets.lib.models.failure_point_model import FailurePointModel, predict_failure_points
from selflearn_assets.lib.models.label_eval import predict_turn_labels
from selflearn_assets.lib.models.label_features import crowd_day, session_ranges
from selflearn_assets.lib.models.label_model import BATCH_SESSIONS, LabelModel


@dataclass(frozen=True)
class Chunking:
    """How the labelling assets split a day (their run config)."""

    # turns per chunk, of whole sessions: the stage's peak memory grows with it, not with the day
    chunk_turns: int = 50_000


def session_chunks(
    session_ids: pl.Series, chunk_turns: int, cuts: np.ndarray | None = None
) -> list[tuple[int, int]]:
    """[start, end) row ranges that cover rows grouped by session (each session's rows consecutive), in
    order: each range ends at the first allowed cut at or after `chunk_turns` rows, so a session longer than
    `chunk_turns` makes a range of its own. `cuts`: the rows a range may end before (default: every session's
    first row); the last row's end always is one."""
    if chunk_turns < 1:
        raise ValueError(f"chunk_turns must be at least 1, not {chunk_turns}")
    n = len(session_ids)
    if cuts is None:
        ids = session_ids.to_numpy()
        cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    ends = np.append(np.asarray(cuts, dtype=np.int64), n)
    out, start = [], 0
    while start < n:
        end = int(ends[np.searchsorted(ends, start + chunk_turns)]) if start + chunk_turns < n else n
        out.append((start, end))
        start = end
    return out


def label_cuts(session_ids: pl.Series) -> np.ndarray:
    """The session boundaries where `label_model.probabilities` starts a batch when it labels the whole day:
    chunks cut there are batched as the whole day is, so chunked labels equal the whole day's bit for bit."""
    ids = session_ids.to_numpy()
    ends = np.array([end for _, end in session_ranges(session_ids.to_list())], dtype=np.int64)
    batch_ends = ends[BATCH_SESSIONS - 1 :: BATCH_SESSIONS]
    batch_ends = batch_ends[batch_ends < len(ids)]
    return batch_ends[ids[batch_ends] != ids[batch_ends - 1]]


def turn_labels_in_chunks(
    model: LabelModel, frames: pl.DataFrame, embedder, chunk_turns: int = Chunking.chunk_turns
) -> Iterator[pl.DataFrame]:
    """`label_eval.predict_turn_labels` of a day's `frames` (from `load_label_frames`), chunk by chunk."""
    crowd = crowd_day(model.spec, frames)
    for start, end in session_chunks(frames["session_id"], chunk_turns, label_cuts(frames["session_id"])):
        yield predict_turn_labels(model, frames.slice(start, end - start), embedder, crowd=crowd)


def failure_points_in_chunks(
    model: FailurePointModel, frames: pl.DataFrame, embedder, chunk_turns: int = Chunking.chunk_turns
) -> Iterator[pl.DataFrame]:
    """`failure_point_model.predict_failure_points` of a day's `frames`, chunk by chunk."""
    for start, end in session_chunks(frames["session_id"], chunk_turns):
        yield predict_failure_points(model, frames.slice(start, end - start), embedder)

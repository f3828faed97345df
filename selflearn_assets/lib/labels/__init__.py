"""The labelling stage (turn_labels, failure_points): a day labelled in chunks of sessions, its lake partitions
and warehouse views."""

from selflearn_assets.lib.labels.chunks import (
    Chunking,
    failure_points_in_chunks,
    session_chunks,
    turn_labels_in_chunks,
)
from selflearn_assets.lib.labels.store import coverage_counts, label_views, replace_day

__all__ = [
    "Chunking",
    "coverage_counts",
    "failure_points_in_chunks",
    "label_views",
    "replace_day",
    "session_chunks",
    "turn_labels_in_chunks",
]

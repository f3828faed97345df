"""The labelling stage (turn_labels, failure_points): its warehouse store."""

from selflearn_assets.lib.labels.store import coverage_counts, replace_day

__all__ = ["coverage_counts", "replace_day"]

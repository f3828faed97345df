"""The labelling stage (turn_labels, failure_points): its lake partitions and warehouse views."""

from selflearn_assets.lib.labels.store import coverage_counts, label_views, replace_day

__all__ = ["coverage_counts", "label_views", "replace_day"]

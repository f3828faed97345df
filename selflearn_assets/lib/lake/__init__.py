"""The lake: daily tables as Parquet partitions published atomically (`partitions.py`), held to their schema
files (`tables.py`), and read by the warehouse through views (`views.py`)."""

from selflearn_assets.lib.lake.partitions import Lake
from selflearn_assets.lib.lake.tables import LAKE_TABLES, LakeSchemaError, table_schema
from selflearn_assets.lib.lake.views import ensure_views, lake_of

__all__ = ["LAKE_TABLES", "Lake", "LakeSchemaError", "ensure_views", "lake_of", "table_schema"]

"""Ingestion of raw turn logs and annotations into typed, validated DuckDB tables (no Dagster here)."""

from selflearn_assets.lib.ingest.annotations import AnnotationStats, ingest_annotations
from selflearn_assets.lib.ingest.partitions import (
    IngestError,
    MissingPartitionError,
    RawRootError,
    discover_partitions,
)
from selflearn_assets.lib.ingest.pseudonym_keys import KeyChangedError, declare_rotation, key_fingerprint
from selflearn_assets.lib.ingest.sessions import build_sessions
from selflearn_assets.lib.ingest.turns import (
    MAX_LINE_BYTES,
    EmptyReplaceError,
    IngestStats,
    LostFile,
    ingest_turns,
)

__all__ = [
    "MAX_LINE_BYTES",
    "AnnotationStats",
    "EmptyReplaceError",
    "IngestError",
    "IngestStats",
    "KeyChangedError",
    "LostFile",
    "MissingPartitionError",
    "RawRootError",
    "build_sessions",
    "declare_rotation",
    "discover_partitions",
    "ingest_annotations",
    "ingest_turns",
    "key_fingerprint",
]

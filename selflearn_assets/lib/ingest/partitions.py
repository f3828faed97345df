"""Where the raw partitions are: `<raw root>/date=YYYY-MM-DD/` folders (annotations live apart, under
`<raw root>/annotations/date=YYYY-MM-DD/`)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


class IngestError(Exception):
    """Raw input that ingestion cannot start on; the message says what to fix."""


class RawRootError(IngestError):
    """The raw root folder is missing or not a folder."""


class MissingPartitionError(IngestError):
    """The raw root has no folder for the day being ingested."""


def check_raw_root(raw_root: str | Path) -> Path:
    root = Path(raw_root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise RawRootError(
            f"raw root {root} {what}. Point SELFLEARN_RAW_ROOT at the folder that holds the "
            "date=YYYY-MM-DD/ partitions of raw turn logs (or generate some with the simulator)."
        )
    return root


def discover_partitions(raw_root: str | Path) -> list[date]:
    """The days that have a `date=YYYY-MM-DD` folder under the raw root, in order."""
    root = check_raw_root(raw_root)
    days = []
    for child in root.iterdir():
        match = _PARTITION.fullmatch(child.name)
        if match and child.is_dir():
            try:
                days.append(date.fromisoformat(match.group(1)))
            except ValueError:  # date=2026-02-30: not a day, not a partition
                continue
    return sorted(days)


def partition_folder(raw_root: str | Path, day: date, *, annotations: bool = False) -> Path:
    root = Path(raw_root) / "annotations" if annotations else Path(raw_root)
    return root / f"date={day.isoformat()}"


def turn_partition(raw_root: str | Path, day: date) -> Path:
    """The folder of one day of raw turn logs; a clear error when the root or the day is missing."""
    root = check_raw_root(raw_root)
    folder = partition_folder(root, day)
    if not folder.is_dir():
        raise MissingPartitionError(
            f"no raw turn logs for {day}: {folder} does not exist (partitions under {root}: "
            f"{_describe(discover_partitions(root))}). Ingesting a missing day would empty it, so it is refused."
        )
    return folder


def _describe(days: list[date]) -> str:
    if not days:
        return "none"
    return f"{len(days)}, {days[0]} to {days[-1]}"

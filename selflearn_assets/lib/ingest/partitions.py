"""Where the raw partitions are: `<raw root>/date=YYYY-MM-DD/` folders (annotations live apart, under
`<raw root>/annotations/date=YYYY-MM-DD/`), and the day the daily partitions start on (`partitions_start`).

The partitions start on the first day of the raw data: the earliest `date=` folder that holds a file, far-off
strays left out. The folders with files split into runs wherever two of them are more than `STRAY_GAP_DAYS`
(60) days apart; a leading run of at most `STRAY_MAX_FOLDERS` (6: less than a week) folders that another run
follows is a stray (a mistyped `date=1999-01-01`, a test folder left months before the real data), and so is
the next such run, up to the first run of a week or more, or the last run. Strays are reported
(`PartitionsStart.warning`), never followed. SELFLEARN_PARTITIONS_START, when set, wins over all of it; with
no raw data the partitions start yesterday (UTC), the last complete day: one empty partition, not months.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
STRAY_GAP_DAYS = 60  # a gap longer than this between two raw folders splits them into runs
STRAY_MAX_FOLDERS = 6  # a leading run of at most this many folders, before such a gap, is a stray


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


def days_with_data(raw_root: str | Path) -> list[date]:
    """The days whose `date=YYYY-MM-DD` folder holds at least one file (at any depth), in order."""
    root = Path(raw_root)
    return [d for d in discover_partitions(root) if _has_file(partition_folder(root, d))]


def _has_file(folder: Path) -> bool:
    return any(p.is_file() for p in folder.rglob("*"))


def split_strays(days: list[date]) -> tuple[list[date], list[date]]:
    """(strays, the rest) of ordered `days`: leading runs (split at gaps over STRAY_GAP_DAYS) of at most
    STRAY_MAX_FOLDERS days that another run follows."""
    runs: list[list[date]] = []
    for d in days:
        if runs and (d - runs[-1][-1]).days <= STRAY_GAP_DAYS:
            runs[-1].append(d)
        else:
            runs.append([d])
    strays: list[date] = []
    while len(runs) > 1 and len(runs[0]) <= STRAY_MAX_FOLDERS:
        strays.extend(runs.pop(0))
    return strays, [d for run in runs for d in run]


@dataclass(frozen=True)
class PartitionsStart:
    """The first daily partition, where it comes from, and the raw folders (with files) left before it."""

    day: date
    source: str  # "SELFLEARN_PARTITIONS_START", "raw data" or "no raw data"
    strays: tuple[date, ...] = ()

    def warning(self, raw_root: str | Path) -> str | None:
        """What to say about the strays (None without any)."""
        if not self.strays:
            return None
        listed = ", ".join(f"date={d}" for d in self.strays[:5]) + (" ..." if len(self.strays) > 5 else "")
        return (
            f"daily partitions start on {self.day}, the first day of raw data under {raw_root}; left out "
            f"{len(self.strays)} far-off raw folder(s) before it: {listed} (a run of at most {STRAY_MAX_FOLDERS} "
            f"folders more than {STRAY_GAP_DAYS} days before the next folder is a stray). Move them away, or set "
            "SELFLEARN_PARTITIONS_START to include them."
        )


def partitions_start(
    raw_root: str | Path, configured: str | None = None, today: date | None = None
) -> PartitionsStart:
    """The first daily partition: `configured` (SELFLEARN_PARTITIONS_START, YYYY-MM-DD) when set; else the
    first day of the raw data under `raw_root`, strays left out (see the module docstring); else, with no
    raw data (or no raw root), yesterday of `today` (default: today, UTC)."""
    if configured:
        try:
            return PartitionsStart(date.fromisoformat(configured), "SELFLEARN_PARTITIONS_START")
        except ValueError:
            raise ValueError(f"SELFLEARN_PARTITIONS_START={configured!r} is not a day (YYYY-MM-DD)") from None
    try:
        days = days_with_data(raw_root)
    except RawRootError:
        days = []
    strays, kept = split_strays(days)
    if not kept:
        today = today or datetime.now(UTC).date()
        return PartitionsStart(today - timedelta(days=1), "no raw data")
    return PartitionsStart(kept[0], "raw data", tuple(strays))


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

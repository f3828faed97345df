"""Pins of the exports the runtime serves: `exports/<kind>/PINNED` holds a day, and that day's export is the
newest for the runtime (`selflearn pin online|rewrites DATE`, `selflearn unpin online|rewrites`): roll back to a
known good export, or hold one while newer days go on being exported.

A pin concerns serving only (`online.bundle.serving_bundle`, `rewrites.export.serving_export`): the Dagster
assets that read the previous export (the self-aware keep rule's `latest_export(before=day)`) see the exports as
they were written. A pin whose export is gone (removed after pinning) is an error for the runtime, never a
silent fallback to the newest day.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from selflearn_assets.lib.day_folders import latest_day

PIN_FILE = "PINNED"


class PinError(Exception):
    """A pin that cannot be set or honoured; the message says which and why."""


def pin_path(kind_root: str | Path) -> Path:
    return Path(kind_root) / PIN_FILE


def export_days(kind_root: str | Path, marker: str) -> list[date]:
    """The days with a complete export (`date=D/<marker>`) under `kind_root`, oldest first."""
    root = Path(kind_root)
    days = []
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith("date=") and (child / marker).is_file():
                try:
                    days.append(date.fromisoformat(child.name[5:]))
                except ValueError:
                    continue
    return sorted(days)


def read_pin(kind_root: str | Path) -> date | None:
    path = pin_path(kind_root)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PinError(f"{path} does not hold a date (YYYY-MM-DD): {text[:40]!r}") from None


def write_pin(kind_root: str | Path, day: date, marker: str) -> Path:
    """Pin `day`, refused when `kind_root` has no complete export of that day. Written atomically."""
    root = Path(kind_root)
    if not (root / f"date={day.isoformat()}" / marker).is_file():
        days = export_days(root, marker)
        have = ", ".join(d.isoformat() for d in days[-5:]) if days else "none"
        raise PinError(f"no {root.name} export of {day} under {root} (the latest exports: {have})")
    path = pin_path(root)
    staging = root / f".{PIN_FILE}.{os.getpid()}"
    staging.write_text(day.isoformat() + "\n")
    os.replace(staging, path)
    return path


def remove_pin(kind_root: str | Path) -> date | None:
    """Remove the pin; the day it held (None: there was none, or it held no date)."""
    try:
        day = read_pin(kind_root)
    except PinError:
        day = None
    pin_path(kind_root).unlink(missing_ok=True)
    return day


def serving_day(kind_root: str | Path, marker: str) -> date | None:
    """The day the runtime serves: the pinned one, else the newest complete export (None: there is none)."""
    root = Path(kind_root)
    pinned = read_pin(root)
    if pinned is None:
        return latest_day(root, marker)
    if not (root / f"date={pinned.isoformat()}" / marker).is_file():
        raise PinError(
            f"{pin_path(root)} pins {pinned}, but there is no export of that day: "
            f"`selflearn unpin {root.name}` or pin another day"
        )
    return pinned

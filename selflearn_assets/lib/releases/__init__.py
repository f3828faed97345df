"""Validated, versioned label releases: thresholds on the audit holdout, gates, and atomic publication."""

from selflearn_assets.lib.releases.publish import (
    ReleaseError,
    ReleaseRefused,
    latest_release,
    publish_release,
    read_release,
    release_folder,
)

__all__ = [
    "ReleaseError",
    "ReleaseRefused",
    "latest_release",
    "publish_release",
    "read_release",
    "release_folder",
]

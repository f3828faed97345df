"""What the run config of a label release must be, before anything is read.

The settings are `label_release`'s run config as a dict (what `releases.release_builds.params` records and the
gates read back): `precision_target` "annotator" or a number in (0, 1]; the floors, drift bound and gold
agreement bounds in [0, 1]; labels named among `LABELS`; counts and windows at least 1.
"""

from __future__ import annotations

from selflearn_assets.lib.releases.labels import LABELS
from selflearn_assets.lib.releases.thresholds import parse_target

SHARES = ("coverage_floor", "drift_max", "precision_floor", "gold_agreement_floor", "gold_agreement_drop_max")
COUNTS = ("audit_min_turns", "audit_window_days", "min_support", "gold_min_turns")


def param_problems(params: dict) -> list[str]:
    """Every way `params` is not a usable release config, in the order a reader checks them; empty when usable."""
    problems = []
    try:
        parse_target(params["precision_target"])
    except ValueError as err:
        problems.append(str(err))
    problems += [
        f"{name} must be in [0, 1], got {params[name]}" for name in SHARES if not 0.0 <= params[name] <= 1.0
    ]
    unknown = [label for label in params["required_labels"] if label not in LABELS]
    if unknown:
        problems.append(f"required_labels must be among {', '.join(LABELS)}, got {', '.join(unknown)}")
    unknown = [label for label in params["precision_floors"] if label not in LABELS]
    if unknown:
        problems.append(
            f"precision_floors must name labels among {', '.join(LABELS)}, got {', '.join(unknown)}"
        )
    problems += [
        f"precision_floors.{label} must be in [0, 1], got {value}"
        for label, value in params["precision_floors"].items()
        if not 0.0 <= value <= 1.0
    ]
    problems += [f"{name} must be at least 1, got {params[name]}" for name in COUNTS if params[name] < 1]
    return problems

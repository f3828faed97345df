"""Files of the project root that the code reads at run time: `dbt_like_sql/`, `dagster.yaml`, `workspace.yaml`.

In a checkout (an editable install) they sit at the repository root. A wheel carries copies of them under
`selflearn_assets/_project/` (the build step in `setup.py`), with the same relative names. The installed copy
is looked up first (`importlib.resources`), then the checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGED = "_project"  # the folder of the package that holds the wheel's copies
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def find_project_file(name: str) -> Path | None:
    """`name` (a file or folder relative to the project root) as installed, else in the checkout; None if
    neither exists."""
    # a package installed as files (pip never installs zipped), so its resources are paths
    packaged = Path(str(resources.files("selflearn_assets") / PACKAGED / name))
    for candidate in (packaged, CHECKOUT_ROOT / name):
        if candidate.exists():
            return candidate
    return None


def project_file(name: str) -> Path:
    """Like `find_project_file`, but a missing file is an error that says where it was looked for."""
    found = find_project_file(name)
    if found is None:
        packaged = Path(str(resources.files("selflearn_assets"))) / PACKAGED / name
        raise FileNotFoundError(
            f"selflearn: {name} is neither installed ({packaged}) nor in a checkout ({CHECKOUT_ROOT / name}); "
            "reinstall selflearn (pip install . for a wheel, pip install -e . for a checkout)"
        )
    return found

"""The selflearn code location: every asset, check, job, schedule and sensor under defs/."""

from pathlib import Path

import dagster as dg

from selflearn_assets.lib.quiet import quiet_libraries

# every process that loads the code location (`dagster dev`'s code server and run workers, `selflearn run`):
# the libraries' INFO chatter and progress bars off, their warnings and errors on (see lib/quiet.py)
quiet_libraries()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)

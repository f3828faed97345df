"""Build step: a wheel carries the project files the code reads at run time.

- `dbt_like_sql/`, `dagster.yaml` and `workspace.yaml` stay at the top of the repository; building a wheel
  copies them into the package as `selflearn_assets/_project/<same path>` (read through
  `selflearn_assets/lib/project_files.py`).
- `dg.load_from_defs_folder` (definitions.py) looks for the dg project config in the package folder or above
  it: the wheel gets `selflearn_assets/dg.toml`, written from pyproject.toml's `[tool.dg]`.

An editable install reads the checkout's files and gets neither. Everything else is configured in pyproject.toml.
"""

import tomllib
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGE = "selflearn_assets"
PROJECT_FILES = ("dagster.yaml", "workspace.yaml")
SQL_FOLDER = "dbt_like_sql"


def project_files() -> list[Path]:
    sql = sorted((ROOT / SQL_FOLDER).rglob("*.sql"))
    files = [ROOT / name for name in PROJECT_FILES] + sql
    missing = [str(f) for f in files if not f.is_file()]
    if missing or not sql:
        raise FileNotFoundError(
            f"selflearn build: missing project files {missing or [SQL_FOLDER + '/*.sql']}"
        )
    return files


def dg_toml() -> str:
    """pyproject.toml's `[tool.dg]` as a dg.toml (the same keys at the top level); string values only."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dg"]
    lines = [f"{key} = {_toml_string(value)}" for key, value in config.items() if not isinstance(value, dict)]
    for table, values in config.items():
        if isinstance(values, dict):
            lines += ["", f"[{table}]"] + [f"{key} = {_toml_string(value)}" for key, value in values.items()]
    return "# written by setup.py from pyproject.toml's [tool.dg]\n" + "\n".join(lines) + "\n"


def _toml_string(value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"selflearn build: [tool.dg] values must be strings for dg.toml, got {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class BuildPyWithProjectFiles(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / PACKAGE
        for source in project_files():
            destination = package / "_project" / source.relative_to(ROOT)
            self.mkpath(str(destination.parent))
            self.copy_file(str(source), str(destination))
        (package / "dg.toml").write_text(dg_toml(), encoding="utf-8")


setup(cmdclass={"build_py": BuildPyWithProjectFiles})

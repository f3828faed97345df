"""The wheel installs anywhere: built from an sdist of the checkout, installed into a fresh venv outside it,
`selflearn simulate` and `selflearn run` work from a folder that is not the checkout.

The fresh venv borrows the dependencies of the project's venv through a `.pth` line (nothing is downloaded);
`.pth` files inside that borrowed folder are not run, so the project's editable install cannot shadow the wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.workspace.load import location_origins_from_yaml_paths

from selflearn_assets.lib.models.encoder import tiny_encoder

CHECKOUT = Path(__file__).resolve().parents[1]
DAY = "2026-11-02"
_BUILD_LEFTOVERS = shutil.ignore_patterns(
    ".git", ".venv", ".selflearn", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "mlruns"
)


def _left_out(folder: str, names: list[str]) -> set[str]:
    """What the copy of the checkout leaves out: build and cache leftovers, and its scratch folders."""
    scratch = {"data", "tmp"} if Path(folder) == CHECKOUT else set()  # /data/, /tmp/ of .gitignore
    return set(_BUILD_LEFTOVERS(folder, names)) | (scratch & set(names))


pytestmark = pytest.mark.slow


def _run(argv: list, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{argv[:4]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def _build_wheel(tmp: Path) -> Path:
    """sdist of a copy of the checkout, then the wheel from the sdist (what `python -m build` does), both
    without build isolation: only the setuptools of this venv, no network."""
    source = tmp / "source"
    shutil.copytree(CHECKOUT, source, ignore=_left_out)
    dist = tmp / "dist"
    build_sdist = f"from setuptools import build_meta; print(build_meta.build_sdist({str(dist)!r}))"
    sdist = dist / _run([sys.executable, "-c", build_sdist], cwd=source).stdout.split()[-1]
    wheels = tmp / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(sdist)], cwd=tmp)
    (wheel,) = wheels.glob("selflearn-*.whl")
    return wheel


def _venv_with_wheel(tmp: Path, wheel: Path) -> Path:
    """A venv outside the checkout with only the wheel installed; then this venv's site-packages is appended
    to its path for the dependencies (after the install, so pip does not see this venv's editable selflearn)."""
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "--python", str(python)]
    _run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)], cwd=tmp)
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp
        ).stdout.strip()
    )
    (site / "zz_selflearn_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _encoder(raw: Path, folder: Path) -> Path:
    texts = []
    for path in raw.glob(f"date={DAY}/*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            texts += [record.get("asr_text") or "", record.get("response_text") or ""]
    tokenizer, model = tiny_encoder(texts)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def test_the_wheel_runs_a_day_outside_the_checkout(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [
            line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist")
        ]
    sql = {
        f"selflearn_assets/_project/{p.relative_to(CHECKOUT)}"
        for p in (CHECKOUT / "dbt_like_sql").rglob("*.sql")
    }
    assert sql and sql <= names
    assert {
        "selflearn_assets/py.typed",
        "selflearn_assets/dg.toml",
        "selflearn_assets/_project/dagster.yaml",
    } <= names
    assert not [n for n in names if n.startswith("selflearn_assets_tests/")]
    assert sum("jellyfish" in r for r in requires) == 1 and any("scikit-learn" in r for r in requires)

    venv = _venv_with_wheel(tmp_path, wheel)
    work = tmp_path / "elsewhere"  # the working folder: no workspace.yaml, no dbt_like_sql, no dagster.yaml
    work.mkdir()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "SELFLEARN_HOME": str(home),
        "SELFLEARN_RAW_ROOT": str(home / "raw"),
        "DAGSTER_HOME": str(home / "dagster"),
        "PYTHONUNBUFFERED": "1",
    }

    # the package, its SQL, its workspace file and its instance settings all come from the new venv
    where = (
        "import json, selflearn_assets; from selflearn_assets import runner; "
        "from selflearn_assets.lib.project_files import find_project_file; from selflearn_assets.lib.sql import sql_root; "
        "print(json.dumps([selflearn_assets.__file__, str(sql_root()), str(runner.WORKSPACE_YAML), "
        "str(find_project_file('dagster.yaml'))]))"
    )
    found = json.loads(_run([str(venv / "bin" / "python"), "-c", where], cwd=work, env=env).stdout)
    for path in found:
        assert Path(path).is_relative_to(venv), found
        assert not Path(path).is_relative_to(CHECKOUT), found
    assert (Path(found[1]) / "ingest" / "clean_turns.sql").read_text() == (
        CHECKOUT / "dbt_like_sql" / "ingest" / "clean_turns.sql"
    ).read_text()

    simulated = _run(
        [
            "selflearn",
            "simulate",
            "--start",
            DAY,
            "--days",
            "1",
            "--users",
            "40",
            "--annotation-rate",
            "0.5",
            "--out",
            str(home / "raw"),
            "--quiet",
        ],
        cwd=work,
        env=env,
    ).stdout
    turns = int(re.search(r"simulated (\d+) turns", simulated).group(1))
    env["SELFLEARN_ENCODER"] = str(_encoder(home / "raw", tmp_path / "encoder"))

    run = subprocess.run(
        ["selflearn", "run", "--start", DAY], cwd=work, env=env, capture_output=True, text=True, timeout=240
    )
    said = f"selflearn run exited {run.returncode}:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    labels = home / "exports" / "labels" / f"date={DAY}"
    if run.returncode == 1:
        # expected of one day of 40 users and a random encoder: a handful of audit turns, so the label release's
        # blocking gates may hold the day (labels withheld). Every step must still succeed.
        assert re.search(r"^\[selflearn\] summary: 0 failed steps, [1-9]", run.stdout, re.M), said
        failed_checks = re.findall(r"^    check ([^:\s]+):", run.stdout, re.M)
        assert failed_checks and set(failed_checks) == {"label_release"}, said
        assert not labels.exists()  # a blocked release publishes nothing
    else:
        assert run.returncode == 0, said
        assert (labels / "labels.parquet").is_file()

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        clean = con.execute("SELECT count(*) FROM ingest.clean_turns WHERE day = ?", [DAY]).fetchone()[0]
    assert clean == turns  # the simulator writes no invalid lines
    assert (home / "exports" / "rewrites" / f"date={DAY}" / "manifest.json").is_file()
    # DAGSTER_HOME seeded from the dagster.yaml installed with the package
    assert (home / "dagster" / "dagster.yaml").read_text() == (CHECKOUT / "dagster.yaml").read_text()
    # the runs belong to the code location the checkout's runs belong to (its workspace.yaml's)
    (checkout_location,) = location_origins_from_yaml_paths([str(CHECKOUT / "workspace.yaml")])
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs()
    assert {run.remote_job_origin.location_name for run in runs} == {checkout_location.location_name}
    assert {
        run.remote_job_origin.repository_origin.code_location_origin.loadable_target_origin.module_name
        for run in runs
    } == {"selflearn_assets.definitions"}
    assert {run.job_name for run in runs if run.status == dg.DagsterRunStatus.SUCCESS} == {
        "daily_pipeline",
        "model_training",
    }

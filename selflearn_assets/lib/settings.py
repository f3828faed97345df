"""Where selflearn reads and writes, from environment variables with defaults that work on a fresh checkout.

| variable                  | default                         | meaning                                    |
|---------------------------|---------------------------------|--------------------------------------------|
| SELFLEARN_HOME            | ./.selflearn                    | warehouse, MLflow store, exports, Dagster  |
| SELFLEARN_RAW_ROOT        | $SELFLEARN_HOME/raw             | raw logs: date=YYYY-MM-DD/*.jsonl[.gz]     |
| SELFLEARN_LAKE            | $SELFLEARN_HOME/lake            | daily tables as Parquet (`lib/lake/`)      |
| SELFLEARN_PSEUDONYM_KEY   | a public development key (warns)| key of the user- and device-id hash        |
| SELFLEARN_DEMO            | unset (`selflearn demo` sets 1) | the default key is expected: no warning    |
| SELFLEARN_PARTITIONS_START| the raw data's first day (below)| first daily partition                      |
| SELFLEARN_MLFLOW_TRACKING_URI | unset: $SELFLEARN_HOME/mlflow (sqlite) | MLflow tracking + registry server  |
| SELFLEARN_MLFLOW_ARTIFACTS| unset: the store's default      | artifact root of experiments it creates    |
| SELFLEARN_MLFLOW_UI       | the tracking server, else http://127.0.0.1:5000 | MLflow UI the model assets link to |
| SELFLEARN_DAGSTER_UI      | http://127.0.0.1:3000           | Dagster UI the model versions link back to |
| DAGSTER_HOME              | $SELFLEARN_HOME/dagster         | run history, seeded from dagster.yaml      |

Without SELFLEARN_PARTITIONS_START the daily partitions start on the first day of raw data under the raw root,
far-off stray folders left out, or yesterday (UTC) when there is none (`lib.ingest.partitions.partitions_start`);
they are computed when the code location loads.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from selflearn_assets.lib.project_files import find_project_file

DEV_PSEUDONYM_KEY = "selflearn-development-key-change-me"
DEMO_ENV = "SELFLEARN_DEMO"
DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"
DEFAULT_DAGSTER_UI = "http://127.0.0.1:3000"


@dataclass(frozen=True)
class Settings:
    home: Path
    raw_root: Path
    pseudonym_key: str
    partitions_start: str | None  # None: follow the raw data (lib.ingest.partitions.partitions_start)
    mlflow_ui: str = DEFAULT_MLFLOW_UI  # no trailing slash
    dagster_ui: str = DEFAULT_DAGSTER_UI  # no trailing slash
    mlflow_tracking_uri: str | None = None  # None: the sqlite store under home (lib.models.tracking)
    mlflow_artifacts: str | None = None  # None: the store's default (lib.models.tracking.artifact_root)

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def lake(self) -> str:
        return lake_root(self.warehouse)

    @property
    def exports(self) -> Path:
        return self.home / "exports"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME") or self.home / "dagster")


def _server_ui(tracking_uri: str | None) -> str | None:
    """A tracking server's address is also its UI's (`mlflow server` serves both); a database URI has no UI."""
    return tracking_uri if tracking_uri and tracking_uri.startswith(("http://", "https://")) else None


def load_settings() -> Settings:
    tracking = os.environ.get("SELFLEARN_MLFLOW_TRACKING_URI") or None
    home = Path(os.environ.get("SELFLEARN_HOME") or Path.cwd() / ".selflearn").resolve()
    raw_root = Path(os.environ.get("SELFLEARN_RAW_ROOT") or home / "raw").resolve()
    return Settings(
        home=home,
        raw_root=raw_root,
        pseudonym_key=os.environ.get("SELFLEARN_PSEUDONYM_KEY") or DEV_PSEUDONYM_KEY,
        partitions_start=os.environ.get("SELFLEARN_PARTITIONS_START") or None,
        mlflow_ui=(os.environ.get("SELFLEARN_MLFLOW_UI") or _server_ui(tracking) or DEFAULT_MLFLOW_UI).rstrip("/"),
        mlflow_tracking_uri=tracking,
        mlflow_artifacts=os.environ.get("SELFLEARN_MLFLOW_ARTIFACTS") or None,
        dagster_ui=(os.environ.get("SELFLEARN_DAGSTER_UI") or DEFAULT_DAGSTER_UI).rstrip("/"),
    )


def lake_root(warehouse: str | Path) -> str:
    """The lake of the warehouse at `warehouse`: $SELFLEARN_LAKE (a folder, or an fsspec URL), else the folder
    `lake` beside the warehouse file (`$SELFLEARN_HOME/lake`). One rule, so that the warehouse's views and the
    assets that write the lake agree wherever the warehouse is."""
    configured = os.environ.get("SELFLEARN_LAKE")
    if configured:
        return configured if "://" in configured else str(Path(configured).resolve())
    return str(Path(warehouse).resolve().parent / "lake")


def default_key_warning(key: str) -> str | None:
    """The warning due when ids are pseudonymised with the public development key, outside `selflearn demo`
    (which sets SELFLEARN_DEMO=1); None otherwise."""
    if key != DEV_PSEUDONYM_KEY or os.environ.get(DEMO_ENV) == "1":
        return None
    return (
        "SELFLEARN_PSEUDONYM_KEY is not set: user and device ids are pseudonymised with the public development "
        f"key {DEV_PSEUDONYM_KEY!r}, so anyone can reverse them. Set SELFLEARN_PSEUDONYM_KEY to a secret of your "
        "own (and keep it: another key gives every customer another pseudonym) before ingesting real logs."
    )


def ensure_dagster_home(settings: Settings | None = None) -> Path:
    """Create DAGSTER_HOME (seeded with the project's dagster.yaml) and export it for this process."""
    settings = settings or load_settings()
    dagster_home = settings.dagster_home
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    source = find_project_file("dagster.yaml")  # installed with the package, else the checkout's
    if source is not None and (not target.exists() or target.read_text() != source.read_text()):
        shutil.copyfile(source, target)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home

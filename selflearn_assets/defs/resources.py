"""Resources: the DuckDB warehouse and the platform's paths and keys."""

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
        }
    )

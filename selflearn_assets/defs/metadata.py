"""Asset metadata shared by every stage: row count, column schema and a markdown preview of a day; for the
model assets, the tags of their MLflow run and the run's link, registered version and promotion.

The links go both ways: a model asset links to its MLflow run (MLflowResource.ui_url, else
$SELFLEARN_MLFLOW_UI), and its MLflow run carries the URLs of the Dagster asset and run ($SELFLEARN_DAGSTER_UI,
default http://127.0.0.1:3000), which `tracking.register_run_model` copies onto the registered model version.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.resources import MLflowResource
from selflearn_assets.lib.settings import load_settings


def table_schema(con, table: str) -> dg.TableSchema:
    rows = con.execute(f"DESCRIBE {table}").fetchall()  # table names are ours, never user input
    return dg.TableSchema(columns=[dg.TableColumn(name=r[0], type=str(r[1])) for r in rows])


def markdown_table(columns: list[str], rows: list[tuple], width: int = 60) -> str:
    def cell(v) -> str:
        text = "" if v is None else str(v)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def day_metadata(duckdb: DuckDBResource, table: str, day: str, preview_columns: list[str], limit: int = 10) -> dict:
    """`dagster/row_count`, `dagster/column_schema` and a preview of `table`'s rows for `day`."""
    with duckdb.get_connection() as con:
        count = con.execute(f"SELECT count(*) FROM {table} WHERE day = ?", [day]).fetchone()[0]
        preview = con.execute(
            f"SELECT {', '.join(preview_columns)} FROM {table} WHERE day = ? LIMIT {int(limit)}", [day]
        ).fetchall()
        schema = table_schema(con, table)
    return {
        "dagster/row_count": dg.MetadataValue.int(int(count)),
        "dagster/column_schema": schema,
        "preview": dg.MetadataValue.md(markdown_table(preview_columns, preview)),
    }


def fmt(value, digits: int = 3) -> str:
    """A number as text with `digits` decimals ("" for None), for metadata tables."""
    return "" if value is None else f"{value:.{digits}f}"


def dagster_asset_url(asset_key: dg.AssetKey, ui_url: str | None = None) -> str:
    """The asset's page in the Dagster UI (`ui_url`, default $SELFLEARN_DAGSTER_UI)."""
    path = "/".join(quote(part, safe="") for part in asset_key.path)
    return f"{(ui_url or load_settings().dagster_ui).rstrip('/')}/assets/{path}"


def dagster_run_url(run_id: str, ui_url: str | None = None) -> str:
    """The run's page in the Dagster UI (`ui_url`, default $SELFLEARN_DAGSTER_UI)."""
    return f"{(ui_url or load_settings().dagster_ui).rstrip('/')}/runs/{run_id}"


def mlflow_run_tags(context: dg.AssetExecutionContext, days: list[date]) -> dict[str, str]:
    """Tags of a model asset's MLflow run: the Dagster run, asset and partition, links to the asset's and the
    run's pages in the Dagster UI, and the window of days."""
    return {
        "dagster.run_id": context.run_id,
        "dagster.asset": context.asset_key.to_user_string(),
        "dagster.partition": context.partition_key if context.has_partition_key else "unpartitioned",
        "dagster.asset_url": dagster_asset_url(context.asset_key),
        "dagster.run_url": dagster_run_url(context.run_id),
        "data_window": f"{min(days)}..{max(days)}",
    }


def mlflow_run_metadata(mlflow: MLflowResource, summary: dict, promotion_metric: str) -> dict:
    """The metadata every model asset starts with, from a `train_and_track` summary: a link to the MLflow run,
    its id, the registered version, whether it became the champion, and the previous champion's score as
    `previous_champion_<promotion_metric>` ("" when there was none)."""
    return {
        "mlflow_run": dg.MetadataValue.url(mlflow.run_url(summary["experiment_id"], summary["run_id"])),
        "mlflow_run_id": summary["run_id"],
        "registered_version": summary["version"],
        "promoted_to_champion": summary["promoted"],
        f"previous_champion_{promotion_metric}": fmt(summary["previous_champion"]),
    }

"""Asset metadata shared by every stage: row count, column schema and a markdown preview of a day; for the
model assets, the tags of their MLflow run and the run's link, registered version and promotion.

What a person reads in the UI: owners and a `stage` tag per group (`stage`), the column schema of a warehouse
table with the descriptions of its schema file (`table_definition`, `table_schema`: the `-- comment` after each
column in `dbt_like_sql/<schema>/schema.sql`, read by `lib/sql_schema.py`; the tables an asset writes beside its
own, such as `releases.release_quality`, under `columns: <table>`), numbers rounded to what matters
(`rounded` for metadata floats and JSON, `fmt` and `pct` for table cells; `markdown_table` formats numbers
itself: ints with thousands separators, floats with 3 decimals), and paths relative to SELFLEARN_HOME
(`home_relative`), which stay true when the home moves. Ratios are either a 0..1 float named `*_rate` (or
`share_*`), plotted over partitions by the UI, or a "12.3%" text named `*_pct`.

The links go both ways: a model asset links to its MLflow run (MLflowResource.ui_url, else
$SELFLEARN_MLFLOW_UI), and its MLflow run carries the URLs of the Dagster asset and run ($SELFLEARN_DAGSTER_UI,
default http://127.0.0.1:3000), which `tracking.register_run_model` copies onto the registered model version.
"""

from __future__ import annotations

import math
from datetime import date
from functools import cache
from pathlib import Path
from urllib.parse import quote

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.resources import MLflowResource
from selflearn_assets.lib.settings import load_settings
from selflearn_assets.lib.sql_schema import warehouse_columns

OWNERS = ["team:selflearn"]
# The UI's metadata column is ~60 characters wide in a 1600-pixel window: previews and tables keep to 4-5 columns
# with short cells and headers that can wrap.
PREVIEW_WIDTH = 28


def stage(group: str) -> dict:
    """`group_name`, `owners` and the `stage` tag of an asset of `group`: `@dg.asset(..., **stage("ingest"))`."""
    return {"group_name": group, "owners": OWNERS, "tags": {"stage": group}}


@cache
def _described_columns(table: str) -> dict[str, dg.TableColumn]:
    return {
        c.name: dg.TableColumn(
            name=c.name,
            type=c.type,
            description=c.comment or None,
            constraints=dg.TableColumnConstraints(nullable=not c.not_null),
        )
        for c in warehouse_columns(table)
    }


def column_schema(table: str) -> dg.TableSchema:
    """The columns of warehouse `table` ("<schema>.<name>") as its schema file declares them, described by the
    comment after each column."""
    return dg.TableSchema(columns=list(_described_columns(table).values()))


def table_definition(table: str, *also: str) -> dict:
    """Definition metadata of an asset that is warehouse `table`: its name and column schema, shown by the UI
    before any materialization. `also`: the other tables the asset writes in the same transaction (which have
    no asset of their own), each column schema under `columns: <table>`."""
    return {
        "dagster/table_name": table,
        "dagster/column_schema": column_schema(table),
        **{f"columns: {other}": column_schema(other) for other in also},
    }


def table_schema(con, table: str) -> dg.TableSchema:
    """The columns `table` has in the warehouse (DESCRIBE), described as its schema file describes them."""
    rows = con.execute(f"DESCRIBE {table}").fetchall()  # table names are ours, never user input
    try:
        described = _described_columns(table)
    except (KeyError, FileNotFoundError):  # a table without a schema file: names and types only
        described = {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=r[0],
                type=str(r[1]),
                description=described[r[0]].description if r[0] in described else None,
                constraints=dg.TableColumnConstraints(nullable=r[2] != "NO"),
            )
            for r in rows
        ]
    )


def rounded(value, digits: int = 3):
    """`value` with its floats rounded for a reader: `digits` decimals, or `digits` significant digits under 0.1
    (0.0123456 -> 0.0123, 0.95678 -> 0.957, 1234.5678 -> 1234.568); dicts, lists and tuples (JSON metadata)
    rounded inside; NaN and other values as they are."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value == 0.0:
            return value
        if abs(value) >= 0.1:
            return round(value, digits)
        return round(value, digits - 1 - math.floor(math.log10(abs(value))))
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def pct(value, digits: int = 1) -> str:
    """A 0..1 share as "12.3%" ("" for None)."""
    return "" if value is None else f"{value:.{digits}%}"


def thousands(value) -> str:
    """An int with thousands separators ("" for None)."""
    return "" if value is None else f"{int(value):,}"


def home_relative(path, home) -> str:
    """`path` relative to SELFLEARN_HOME `home` ("exports/labels/date=2026-11-01/", a folder ending in "/"), which
    stays true when the home moves; a path outside `home` as it is."""
    path = Path(path)
    try:
        relative = path.resolve().relative_to(Path(home).resolve()).as_posix()
    except ValueError:
        return str(path)
    return relative + "/" if path.is_dir() else relative


def markdown_table(columns: list[str], rows: list[tuple], width: int = 60) -> str:
    """A markdown table; numbers formatted for a reader (ints with thousands separators, floats with 3
    decimals, lists of them alike), long text cut at `width` characters."""

    def cell(v) -> str:
        text = _cell_text(v)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def day_metadata(
    duckdb: DuckDBResource,
    table: str,
    day: str,
    preview_columns: list[str | tuple[str, str]],
    limit: int = 10,
    width: int = PREVIEW_WIDTH,
) -> dict:
    """`dagster/row_count`, `dagster/column_schema` and a preview of `table`'s rows for `day`: `preview_columns`
    are column names, or (column, header) pairs whose header can wrap in the UI's narrow metadata column; text
    is cut at `width` characters."""
    columns = [c if isinstance(c, str) else c[0] for c in preview_columns]
    headers = [c if isinstance(c, str) else c[1] for c in preview_columns]
    with duckdb.get_connection() as con:
        count = con.execute(f"SELECT count(*) FROM {table} WHERE day = ?", [day]).fetchone()[0]
        preview = con.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE day = ? LIMIT {int(limit)}", [day]
        ).fetchall()
        schema = table_schema(con, table)
    return {
        "dagster/row_count": dg.MetadataValue.int(int(count)),
        "dagster/column_schema": schema,
        "preview": dg.MetadataValue.md(markdown_table(headers, preview, width)),
    }


def _cell_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return fmt(v) if math.isfinite(v) else str(v)
    if isinstance(v, list | tuple) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
        return "[" + ", ".join(_cell_text(x) for x in v) + "]"
    return str(v)


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

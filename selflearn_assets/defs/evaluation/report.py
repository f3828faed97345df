"""What `rewrite_evaluation` shows in the Dagster UI: every number of `evaluation.json`, the chart and a summary
table (the work is done in `selflearn_assets/lib/evaluation/`)."""

from datetime import date
from pathlib import Path

import dagster as dg

from selflearn_assets.defs.metadata import home_relative, markdown_table, rounded
from selflearn_assets.lib.evaluation.plots import markdown_image
from selflearn_assets.lib.evaluation.rewrite_evaluation import RewriteEvaluation


def evaluation_metadata(evaluation: RewriteEvaluation, folder: Path, home) -> dict:
    """The result's numbers (floats rounded), where the table is, whether the replay ran, the chart and every
    entry of the result as a table."""
    result = evaluation.result
    scalars = {k: v for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return {
        **{
            k: dg.MetadataValue.float(rounded(float(v))) if isinstance(v, float) else v
            for k, v in scalars.items()
        },
        "evaluated": True,
        "table": home_relative(folder, home),
        "ab_replay": str(result["ab_replay"]),
        "chart": dg.MetadataValue.md(markdown_image(evaluation.chart, "rewrite evaluation")),
        "summary": dg.MetadataValue.md(
            markdown_table(["metric", "value"], [(k, v) for k, v in result.items()])
        ),
    }


def not_evaluated_metadata(table_day: date) -> dict:
    return {"evaluated": False, "reason": f"no rewrite export for {table_day}"}

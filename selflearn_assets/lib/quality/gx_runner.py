"""Run a Great Expectations 1.x suite on a pandas frame in an ephemeral context, and summarise it.

GX 1.x has no DuckDB or polars engine, so callers select the partition into pandas first, or, for a large day,
let DuckDB count each expectation's unexpected rows and validate those counts (`duckdb_suite.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import great_expectations as gx
import pandas as pd
from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig

from selflearn_assets.lib.quiet import quiet_great_expectations

# GX logs one INFO line per ephemeral context ("Created temporary directory ... for ephemeral docs site")
quiet_great_expectations()


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    observed: str
    sample: list = field(default_factory=list)


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def markdown(self) -> str:
        """A table of every expectation, failures first: what the Dagster UI shows for the check."""
        rows = sorted(self.outcomes, key=lambda o: o.success)
        lines = ["| expectation | column | ok | unexpected | observed / sample |", "|---|---|---|---|---|"]
        for o in rows:
            shown = o.observed or ", ".join(repr(v)[:40] for v in o.sample[:3])
            lines.append(
                f"| {o.expectation} | {o.column or ''} | {'yes' if o.success else '**NO**'} "
                f"| {'' if o.unexpected_count is None else o.unexpected_count} | {shown} |"
            )
        return "\n".join(lines)


def run_suite(
    df: pd.DataFrame, suite_name: str, expectations: list, result_format: str = "SUMMARY"
) -> ExpectationSuiteValidationResult:
    """GX's own result of validating `df` against `expectations` (GX expectation objects)."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(f"{suite_name}_source")
        .add_dataframe_asset(f"{suite_name}_frame")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": df})
    )
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    return batch.validate(suite, result_format=result_format)


def validate_frame(df: pd.DataFrame, suite_name: str, expectations: list) -> SuiteOutcome:
    """Validate `df` against `expectations` (GX expectation objects) and return a plain summary."""
    result = run_suite(df, suite_name, expectations)
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        observed = res.get("observed_value")
        outcomes.append(
            ExpectationOutcome(
                expectation=cfg.type,
                column=cfg.kwargs.get("column") or cfg.kwargs.get("column_A"),
                success=bool(r.success),
                unexpected_count=res.get("unexpected_count"),
                observed="" if observed is None else str(observed)[:120],
                sample=list(res.get("partial_unexpected_list") or [])[:5],
            )
        )
    return SuiteOutcome(suite=suite_name, success=bool(result.success), outcomes=outcomes)

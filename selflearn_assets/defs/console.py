"""The console logger of every job: Dagster's colored console logger, without the tracebacks that only restate
a failed blocking check.

When a blocking asset check fails, Dagster fails the check's step with a `DagsterAssetCheckFailedError` and
logs it twice with its stack trace (the step's failure, then the run's): about 20 lines that say nothing the
check's own evaluation does not say better — `selflearn run` prints the check's description in its summary,
and the UI shows it on the check. Those two records are dropped from the console (they stay in the run's event
log). Every other record passes: a real step failure keeps its traceback, warnings and errors all print.
The config is that of Dagster's `console` logger (`log_level`, `name`), so run config written for it works.
"""

import logging

import dagster as dg
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR
from dagster._loggers import create_console_logger
from dagster._utils.log import coerce_valid_log_level

BLOCKED_CHECK_ERROR = "DagsterAssetCheckFailedError"


def restates_a_blocked_check(record: logging.LogRecord) -> bool:
    """A STEP_FAILURE or RUN_FAILURE record whose error is only a failed blocking check."""
    meta = getattr(record, LOG_RECORD_METADATA_ATTR, None) or {}
    event = meta.get("dagster_event")
    if event is None or event.event_type not in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
        return False
    error = getattr(event.event_specific_data, "error", None)
    return error is not None and error.cls_name == BLOCKED_CHECK_ERROR


class _DropBlockedCheckTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not restates_a_blocked_check(record)


@dg.logger(
    {
        "log_level": dg.Field(str, is_required=False, default_value="INFO"),
        "name": dg.Field(str, is_required=False, default_value="dagster"),
    },
    description="Dagster's colored console logger, without the tracebacks that restate a failed blocking check.",
)
def console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = create_console_logger(
        name=init_context.logger_config["name"],
        level=coerce_valid_log_level(init_context.logger_config["log_level"]),
    )
    logger.addFilter(_DropBlockedCheckTracebacks())
    return logger


defs = dg.Definitions(loggers={"console": console})

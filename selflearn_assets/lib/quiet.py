"""Quiet libraries: their INFO chatter and progress bars off; their warnings, errors and tracebacks still shown.

`quiet_libraries()` runs where runs execute: the `selflearn run` process (`cli.cmd_run`) and every process
that loads the code location (`definitions.py`, so `dagster dev` runs are as quiet). It is idempotent. What
it turns off, and how (each checked against the installed sources):

- Great Expectations: `great_expectations.data_context.types.base` sets its own logger to INFO at import
  and logs "Created temporary directory ... for ephemeral docs site" for every ephemeral context (one per
  suite validated). Every `great_expectations*` logger goes to WARNING, that one included.
- MLflow: its INFO ("Creating initial MLflow database tables..."), its registry prints ("Successfully
  registered model", "Created version '1' of model"), and its "Downloading artifacts" bars
  (`MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`, unless set). The prints are `eprint`s to MLflow's own stream,
  which its loggers' handler also writes to: the handler is pointed at the current `sys.stderr`, so MLflow's
  warnings and errors still print (and Dagster's compute-log capture still sees them), and the stream is
  replaced by one that drops what is written (`mlflow.utils.logging_utils.disable_logging()` would not do:
  MLflow re-enables it when leaving any of its autologging-safe sections, e.g. while logging a model).
- transformers / huggingface_hub: the "Loading weights" and "Writing model shards" bars.

Not touched: warnings and errors of any library, Python warnings (`warnings.warn`), Dagster's own console
log (`selflearn run` shows WARNING and up, `--verbose` everything), and our own tqdm bars (embedding, the
training epochs): they show the progress of the long work (minutes with the pretrained encoder), one line
each, and go to the step's captured stderr in `dagster dev`. The `[selflearn]` lines of `selflearn run`
say which stage runs for which day and what failed and why; the full record is each run's event log in
DAGSTER_HOME.
"""

from __future__ import annotations

import logging
import os
import sys

QUIET_LEVEL = logging.WARNING
ARTIFACTS_PROGRESS_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


class _Discard:
    """What `eprint` writes to once MLflow is quiet; `enabled` so that MLflow's enable/disable_logging work."""

    enabled = False

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _CurrentStderr:
    """A stream that writes to whatever `sys.stderr` is at the time of the write (as MLflow's own does)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def quiet_great_expectations() -> None:
    """Every `great_expectations` logger to WARNING, including those GX set to INFO itself at import."""
    import great_expectations  # noqa: F401  (its modules set their levels when imported)
    import great_expectations.data_context.types.base  # noqa: F401  (the one that sets INFO)

    logging.getLogger("great_expectations").setLevel(QUIET_LEVEL)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (
            name.startswith("great_expectations.")
            and isinstance(logger, logging.Logger)
            and logger.level != logging.NOTSET
            and logger.level < QUIET_LEVEL
        ):
            logger.setLevel(QUIET_LEVEL)


def quiet_mlflow() -> None:
    """MLflow's INFO, its registry prints and its artifact download bars off; its warnings still print."""
    os.environ.setdefault(ARTIFACTS_PROGRESS_BAR_ENV, "false")
    import mlflow  # noqa: F401  (configures its loggers at import: do this after)
    from mlflow.utils import logging_utils

    logging.getLogger("mlflow").setLevel(QUIET_LEVEL)
    own_stream = logging_utils.MLFLOW_LOGGING_STREAM
    for name in ("mlflow", "alembic", "huey", "sqlalchemy.engine"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is own_stream:
                handler.setStream(_CurrentStderr())
    # only `eprint` (a module-level lookup of this name) still writes there
    logging_utils.MLFLOW_LOGGING_STREAM = _Discard()


def quiet_transformers() -> None:
    """transformers' and huggingface_hub's progress bars off (their warnings are untouched)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def quiet_libraries() -> None:
    """All of the above: what `selflearn run` and the code location apply before any run."""
    quiet_great_expectations()
    quiet_mlflow()
    quiet_transformers()

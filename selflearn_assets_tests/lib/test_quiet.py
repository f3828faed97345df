"""lib/quiet.py: the libraries' INFO chatter and progress bars are off, their warnings and errors are not.

Each test first shows the chatter it removes (the library as it comes), so that it cannot pass vacuously."""

from __future__ import annotations

import logging

import great_expectations as gx
import pandas as pd
import pytest

from selflearn_assets.lib import quiet
from selflearn_assets.lib.quality.gx_runner import validate_frame

GX_BASE = "great_expectations.data_context.types.base"  # the GX module that sets its own logger to INFO


def _suite() -> list:
    return [
        gx.expectations.ExpectColumnValuesToNotBeNull(column="event_id"),
        gx.expectations.ExpectColumnValuesToBeBetween(column="n", min_value=0, max_value=10),
    ]


def _gx_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("great_expectations")]


def test_gx_validation_logs_nothing_below_warning_and_errors_still_show(caplog, monkeypatch):
    frame = pd.DataFrame({"event_id": ["a", "b", None], "n": [1, 2, 30]})
    # as GX leaves it after import: its base module's logger at INFO, one INFO line per ephemeral context
    monkeypatch.setattr(logging.getLogger(GX_BASE), "level", logging.INFO)
    with caplog.at_level(logging.DEBUG):  # the root shows everything: only the loggers' own levels filter
        validate_frame(frame, "loud", _suite())
    assert any("ephemeral docs site" in r.getMessage() for r in _gx_records(caplog))

    caplog.clear()
    quiet.quiet_great_expectations()
    with caplog.at_level(logging.DEBUG):
        outcome = validate_frame(frame, "quiet", _suite())
        logging.getLogger(GX_BASE).warning("a GX warning")
        logging.getLogger("great_expectations.validator").error("a GX error")
    # the validation itself still says what failed, and GX's warnings and errors still get through
    assert not outcome.success
    assert {(o.expectation, o.unexpected_count) for o in outcome.failures} == {
        ("expect_column_values_to_not_be_null", 1),
        ("expect_column_values_to_be_between", 1),
    }
    assert [(r.levelname, r.getMessage()) for r in _gx_records(caplog)] == [
        ("WARNING", "a GX warning"),
        ("ERROR", "a GX error"),
    ]


def test_mlflow_keeps_its_warnings_and_loses_its_chatter(tmp_path, monkeypatch, capsys):
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository
    from mlflow.utils import logging_utils

    monkeypatch.delenv(quiet.ARTIFACTS_PROGRESS_BAR_ENV, raising=False)  # restored after the test
    # MLflow's stream as it comes (restored after the test)
    monkeypatch.setattr(logging_utils, "MLFLOW_LOGGING_STREAM", logging_utils.MlflowLoggingStream())
    for handler in logging.getLogger("mlflow").handlers:
        if type(handler) is logging.StreamHandler:
            monkeypatch.setattr(handler, "stream", logging_utils.MLFLOW_LOGGING_STREAM)
    source, copy = tmp_path / "run", tmp_path / "copy"
    source.mkdir()
    copy.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (source / name).write_text(name)
    repo = LocalArtifactRepository(str(source))
    repo.download_artifacts("", dst_path=str(copy))
    logging_utils.eprint("Successfully registered model 'm'.")
    loud = capsys.readouterr().err
    assert "Downloading artifacts" in loud and "Successfully registered model" in loud

    quiet.quiet_mlflow()
    assert logging.getLogger("mlflow").level == logging.WARNING
    quieter = tmp_path / "quiet"
    quieter.mkdir()
    repo.download_artifacts("", dst_path=str(quieter))
    logging_utils.eprint("Successfully registered model 'm'.")
    logging_utils.enable_logging()  # what MLflow does when it leaves an autologging-safe section
    logging_utils.eprint("Created version '1' of model 'm'.")
    logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
    logging.getLogger("mlflow.pytorch").warning("a real MLflow warning")
    err = capsys.readouterr().err
    assert sorted(p.name for p in quieter.rglob("*.txt")) == ["a.txt", "b.txt", "c.txt"]  # still downloads
    assert "Downloading artifacts" not in err and "Successfully registered" not in err
    assert "Created version" not in err
    assert "Creating initial" not in err
    assert "WARNING mlflow.pytorch: a real MLflow warning" in err


def test_transformers_loads_without_progress_bars(tmp_path, capsys):
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from selflearn_assets.lib.models.encoder import tiny_encoder

    _, model = tiny_encoder(["play imagine dragons"])
    model.save_pretrained(tmp_path)
    hf_logging.enable_progress_bar()
    try:
        AutoModel.from_pretrained(tmp_path, local_files_only=True)
        assert "Loading weights" in capsys.readouterr().err

        quiet.quiet_transformers()
        loaded = AutoModel.from_pretrained(tmp_path, local_files_only=True)
        assert "Loading weights" not in capsys.readouterr().err
        assert loaded.config.hidden_size == model.config.hidden_size == 32
        # its warnings are untouched
        assert logging.getLogger("transformers").getEffectiveLevel() <= logging.WARNING
    finally:
        quiet.quiet_transformers()


@pytest.mark.parametrize("times", [1, 2])
def test_quiet_libraries_is_idempotent(times):
    for _ in range(times):
        quiet.quiet_libraries()
    loggers = [logging.getLogger(n) for n in ("great_expectations", GX_BASE, "mlflow")]
    assert [logger.level for logger in loggers] == [logging.WARNING] * 3
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    # MLflow's one console handler (pytest adds capture handlers of its own) writes to sys.stderr of the moment
    streams = [h.stream for h in logging.getLogger("mlflow").handlers if type(h) is logging.StreamHandler]
    assert len(streams) == 1 and isinstance(streams[0], quiet._CurrentStderr)
    assert isinstance(MLFLOW_LOGGING_STREAM, quiet._Discard)  # only MLflow's prints (eprint) wrote there

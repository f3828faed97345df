"""Models tracked on an MLflow tracking server (`SELFLEARN_MLFLOW_TRACKING_URI`), as a deployment runs them: a real
`mlflow server` on loopback holds the runs, the registry and the artifacts; nothing is written under
SELFLEARN_HOME/mlflow, and the daily assets find the champion through the server."""

import subprocess
import sys
import time
import urllib.request
from datetime import date

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource
from mlflow.tracking import MlflowClient

from selflearn_assets.defs.models.rephrase import rephrase_model
from selflearn_assets.defs.resources import EncoderConfig, MLflowResource, SelflearnConfig
from selflearn_assets.defs.signals.assets import defect_signals, rephrase_candidates
from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.models.rephrase_training import EXPERIMENT, MODEL_NAME
from selflearn_assets_tests.ports import free_port

DAY = date(2026, 11, 2)
TRAINING = {"epochs": 2, "d_model": 32, "layers": 1, "max_sessions": 150}


@pytest.fixture
def tracking_server(tmp_path):
    """(URL, artifact folder) of a live `mlflow server` (sqlite backend: the server's database is its own
    business, PostgreSQL in production), stopped after the test."""
    port, artifacts = free_port(), tmp_path / "server-artifacts"
    cmd = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(artifacts),
    ]  # fmt: skip
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield url, artifacts
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_models_train_register_and_serve_their_champion_through_a_tracking_server(
    selflearn_home, ingest_day_with_encoder, tracking_server, monkeypatch
):
    url, artifacts = tracking_server
    monkeypatch.setenv("SELFLEARN_MLFLOW_TRACKING_URI", url)
    encoder_dir = ingest_day_with_encoder(DAY, users=150)
    resources = {
        "duckdb": DuckDBResource(database=str(selflearn_home / "warehouse.duckdb")),
        "selflearn": SelflearnConfig(
            home=str(selflearn_home), raw_root=str(selflearn_home / "raw"), pseudonym_key="k"
        ),
        "mlflow": MLflowResource(home=str(selflearn_home)),
        "encoder": EncoderConfig(path=str(encoder_dir)),
    }
    trained = dg.materialize(
        [rephrase_model], resources=resources, run_config={"ops": {"rephrase_model": {"config": TRAINING}}}
    )
    assert trained.success
    (materialization,) = trained.asset_materializations_for_node("rephrase_model")
    run_id = materialization.metadata["mlflow_run_id"].value
    # the UI link is the server's (it serves its UI), not the local default
    assert materialization.metadata["mlflow_run"].value.startswith(f"{url}/#/experiments/")

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    run = client.get_run(run_id)
    assert run.data.tags["dagster.asset"] == "rephrase_model" and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert str(client.get_model_version_by_alias(MODEL_NAME, tracking.CHAMPION).version) == "1"
    assert any(p.is_file() for p in artifacts.rglob("*"))  # the model went to the server's artifact store
    assert not (selflearn_home / "mlflow").exists()  # nothing tracked locally

    # the daily asset finds the champion through the server and scores with it
    scored = dg.materialize(
        [defect_signals, rephrase_candidates],
        partition_key=DAY.isoformat(),
        resources=resources,
    )
    (candidates,) = scored.asset_materializations_for_node("rephrase_candidates")
    assert candidates.metadata["scored_by"].value == "model"
    assert candidates.metadata["rephrase_model_version"].value == "1"
    assert not (selflearn_home / "mlflow").exists()

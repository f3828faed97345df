"""A real Ray cluster on loopback: a head and a worker node, each a `ray start --block` process of its own
with one CPU. Encoding and the Markov solve go through it by SELFLEARN_RAY_ADDRESS, run on both nodes and
give the in-process numbers. Only the processes this test started are stopped (never `ray stop`)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from selflearn_assets.lib import compute
from selflearn_assets.lib.markov.solve import absorption_probabilities
from selflearn_assets.lib.models.encoder import TurnEmbedder, embed_texts, load_encoder, tiny_encoder
from selflearn_assets_tests.lib.test_markov import random_components
from selflearn_assets_tests.ports import free_port

RAY = str(Path(sys.executable).with_name("ray"))


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"no Ray head on port {port} after {timeout} s")


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to each `ray start --block` (it stops its node's processes), then SIGKILL to whatever is left
    of their own process groups."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture
def loopback_cluster():
    """(address, temp dir) of a head and a worker node; stopped afterwards."""
    temp = tempfile.mkdtemp(prefix="slray", dir="/tmp")  # short: Ray's socket paths live under it
    port = free_port()
    common = [
        "--num-cpus=1",
        "--num-gpus=0",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        f"--temp-dir={temp}",
        "--node-ip-address=127.0.0.1",
        "--block",
    ]
    # loopback only: no token authentication (else Ray enables it when ~/.ray/auth_token exists, and the
    # driver would need RAY_AUTH_MODE=token too)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    procs = []
    logs = open(Path(temp) / "ray-start.log", "wb")  # noqa: SIM115
    try:
        procs.append(
            subprocess.Popen(
                [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
                stdout=logs,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        )
        wait_for_port(port, procs[0])
        procs.append(
            subprocess.Popen(
                [RAY, "start", f"--address=127.0.0.1:{port}", *common],
                stdout=logs,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        )
        yield f"127.0.0.1:{port}", temp
    finally:
        compute.shutdown()
        stop(procs)
        logs.close()
        shutil.rmtree(temp, ignore_errors=True)


def wait_for_cpus(ray, n: int, timeout: float = 45.0) -> None:
    """Until `n` CPUs are free (a node that has joined shows in the free resources a little later)."""
    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU", 0) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {n} free CPUs on the Ray cluster after {timeout} s")
        time.sleep(0.3)


@pytest.mark.slow
def test_encoding_and_markov_solve_run_on_both_nodes_with_in_process_results(
    loopback_cluster, monkeypatch, tmp_path
):
    address, _ = loopback_cluster
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("SELFLEARN_RAY", "on")
    monkeypatch.setenv("SELFLEARN_RAY_ADDRESS", address)
    monkeypatch.setenv("SELFLEARN_RAY_MIN_TEXTS", "100")
    monkeypatch.setenv("SELFLEARN_RAY_MIN_STATES", "100")
    config = compute.ComputeConfig.from_env()
    assert config.backend == "ray_cluster"
    ray = compute.ray_runtime(config)
    wait_for_cpus(ray, 2)
    node_ids = {node["NodeID"] for node in ray.nodes() if node["Alive"]}

    texts = [f"play track {i} from album {i % 13} please" for i in range(3000)]
    tokenizer, model = tiny_encoder(texts)
    reference = embed_texts(tokenizer, model, texts, progress=False)
    # built from a config: the actors get the encoder through the object store
    shipped = TurnEmbedder(tokenizer, model)
    np.testing.assert_allclose(shipped(texts), reference, atol=1e-5)
    assert shipped.ray_nodes == node_ids, "both nodes' actors encoded"
    # loaded from a directory: each actor loads it from there once
    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    loaded = TurnEmbedder(*load_encoder(str(tmp_path)))
    small = texts[:50]  # under the threshold: in this process
    np.testing.assert_allclose(loaded(small), reference[:50], atol=1e-5)
    assert loaded.ray_nodes == set()
    wait_for_cpus(ray, 2)  # the last pool's actors have let go of their CPUs
    np.testing.assert_allclose(loaded(texts[::-1]), reference[::-1], atol=1e-5)
    assert loaded.ray_nodes == node_ids

    q, r_s, r_f = random_components(np.random.default_rng(11), n_comp=400, max_size=80)
    here = absorption_probabilities(
        q, r_s, r_f, dense_max=8, lu_max=30, compute=compute.ComputeConfig(ray=False)
    )
    wait_for_cpus(ray, 2)
    there = absorption_probabilities(q, r_s, r_f, dense_max=8, lu_max=30)  # SELFLEARN_RAY* from the env
    assert there.ray_nodes == node_ids
    np.testing.assert_array_equal(there.success, here.success)
    assert there.components_by_method == here.components_by_method

"""Backend selection and thresholds (Ray off: nothing here starts Ray), and the solver's unit plan."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from selflearn_assets.lib.compute import ComputeConfig
from selflearn_assets.lib.compute.backend import DEFAULT_MIN_STATES, DEFAULT_MIN_TEXTS
from selflearn_assets.lib.compute.encode import encoder_source
from selflearn_assets.lib.compute.markov import pack
from selflearn_assets.lib.markov.solve import Unit, absorption_probabilities, plan_units
from selflearn_assets.lib.models.encoder import TurnEmbedder, embed_texts, load_encoder, tiny_encoder
from selflearn_assets_tests.lib.test_markov import random_components

TEXTS = ["play jazz", "turn on the lights", "what time is it", "play jazz", "call mom"]


@pytest.mark.parametrize(
    ("env", "backend", "address"),
    [
        ({}, "ray_local", None),
        ({"SELFLEARN_RAY": "off"}, "in_process", None),
        ({"SELFLEARN_RAY": "OFF", "SELFLEARN_RAY_ADDRESS": "10.0.0.1:6379"}, "in_process", "10.0.0.1:6379"),
        (
            {"SELFLEARN_RAY": "on", "SELFLEARN_RAY_ADDRESS": " ray://head:10001 "},
            "ray_cluster",
            "ray://head:10001",
        ),
    ],
)
def test_backend_follows_the_settings(env, backend, address):
    config = ComputeConfig.from_env(env)
    assert config.backend == backend
    assert config.address == address
    assert (config.min_texts, config.min_states, config.num_cpus) == (
        DEFAULT_MIN_TEXTS,
        DEFAULT_MIN_STATES,
        None,
    )


def test_numbers_come_from_the_settings():
    config = ComputeConfig.from_env(
        {"SELFLEARN_RAY_CPUS": "3", "SELFLEARN_RAY_MIN_TEXTS": "1_000", "SELFLEARN_RAY_MIN_STATES": "7"}
    )
    assert (config.num_cpus, config.min_texts, config.min_states) == (3, 1000, 7)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SELFLEARN_RAY": "maybe"}, "SELFLEARN_RAY='maybe': expected 'on' or 'off'"),
        ({"SELFLEARN_RAY_MIN_TEXTS": "many"}, "SELFLEARN_RAY_MIN_TEXTS='many': expected a whole number"),
        ({"SELFLEARN_RAY_CPUS": "0"}, "SELFLEARN_RAY_CPUS='0': expected a number >= 1"),
    ],
)
def test_a_malformed_setting_is_a_clear_error(env, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ComputeConfig.from_env(env)


def test_the_tests_run_in_process():
    assert ComputeConfig.from_env().backend == "in_process"  # conftest.py


@pytest.mark.parametrize(
    ("config", "job", "size", "expected"),
    [
        (ComputeConfig(min_texts=100), "encode", 99, False),
        (ComputeConfig(min_texts=100), "encode", 100, True),
        (ComputeConfig(ray=False, min_texts=1), "encode", 10**9, False),
        (ComputeConfig(min_states=10), "solve", 10, True),
        (ComputeConfig(min_states=10, min_texts=1), "solve", 9, False),
    ],
)
def test_thresholds(config, job, size, expected):
    assert config.runs_on_ray(job, size) is expected


def fake_ray_encoder(calls):
    """Stands in for embed_on_ray: records the texts it is given and encodes them in process."""

    def embed_on_ray(tokenizer, model, texts, batch_size, max_length, progress):
        calls.append(list(texts))
        return embed_texts(tokenizer, model, texts, batch_size, max_length, progress=False), {"node-a"}

    return embed_on_ray


@pytest.mark.parametrize(
    ("min_texts", "sent"),
    [(5, []), (4, [["play jazz", "turn on the lights", "what time is it", "call mom"]])],
)
def test_embedder_sends_only_jobs_over_the_threshold_to_ray(monkeypatch, tmp_path, min_texts, sent):
    import selflearn_assets.lib.compute.encode as encode

    calls: list[list[str]] = []
    monkeypatch.setattr(encode, "embed_on_ray", fake_ray_encoder(calls))
    tokenizer, model = tiny_encoder(TEXTS)
    embedder = TurnEmbedder(tokenizer, model, store_root=tmp_path, compute=ComputeConfig(min_texts=min_texts))
    out = embedder(TEXTS)
    assert calls == sent  # four distinct texts, deduplicated before the threshold is applied
    assert embedder.ray_nodes == ({"node-a"} if sent else set())
    np.testing.assert_allclose(out, embed_texts(tokenizer, model, TEXTS, progress=False), atol=1e-6)
    # the store got them either way: a fresh embedder finds every text there and encodes none
    again = TurnEmbedder(tokenizer, model, store_root=tmp_path, compute=ComputeConfig(min_texts=1))
    np.testing.assert_allclose(again(TEXTS), out, atol=1e-6)
    assert again.cache.encoded == 0 and len(calls) == len(sent)


def test_encoder_source_is_the_directory_when_there_is_one(tmp_path):
    tokenizer, model = tiny_encoder(TEXTS)
    assert encoder_source(tokenizer, model)[0] == "object"  # built from a config: shipped as an object
    tokenizer.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    assert encoder_source(*load_encoder(str(tmp_path))) == ("path", str(tmp_path))


def test_plan_covers_every_state_once_with_whole_components():
    q, r_s, r_f = random_components(np.random.default_rng(3), n_comp=300, max_size=80)
    absorption = absorption_probabilities(q, r_s, r_f, dense_max=8, lu_max=30)
    sizes = np.bincount(absorption.component)
    state_sizes = np.sort(sizes[absorption.component])
    units = plan_units(state_sizes, dense_max=8, lu_max=30)
    covered = np.zeros(state_sizes.size, dtype=int)
    for u in units:
        covered[u.a : u.b] += 1
        if u.method != "sparse_lu":
            assert (u.b - u.a) % u.size == 0 and set(state_sizes[u.a : u.b]) == {u.size}
    assert (covered == 1).all()
    assert {u.method for u in units} == {"closed_form", "dense_batch", "sparse_lu", "iterative"}


def test_pack_balances_states_biggest_first():
    units = [Unit("x", 0, 0 + s, s) for s in (10, 9, 5, 4, 3, 1)]
    groups = pack(units, 2)
    # 10 | 9 | 9+5 | 10+4 | 10+4+3 (tie: the first) | 9+5+1
    assert [[u.b - u.a for u in g] for g in groups] == [[10, 4, 3], [9, 5, 1]]
    assert pack(units[:1], 8) == [[units[0]]]  # never an empty task


def test_solve_through_the_ray_path_gives_the_in_process_numbers(monkeypatch):
    """The dispatch to Ray, with a stand-in that solves the units in reverse order in process."""
    import selflearn_assets.lib.compute.markov as markov
    from selflearn_assets.lib.markov.solve import solve_unit

    def solve_units_on_ray(q, r, units, config):
        return [(u, *solve_unit(u, q[u.a : u.b, u.a : u.b], r[u.a : u.b])) for u in reversed(units)], {"n1"}

    monkeypatch.setattr(markov, "solve_units_on_ray", solve_units_on_ray)
    q, r_s, r_f = random_components(np.random.default_rng(4), n_comp=200, max_size=80)
    here = absorption_probabilities(q, r_s, r_f, dense_max=8, lu_max=30, compute=ComputeConfig(ray=False))
    there = absorption_probabilities(q, r_s, r_f, dense_max=8, lu_max=30, compute=ComputeConfig(min_states=1))
    assert there.ray_nodes == {"n1"} and not here.ray_nodes
    np.testing.assert_array_equal(there.success, here.success)
    assert there.components_by_method == here.components_by_method
    reference = sp.linalg.spsolve((sp.identity(q.shape[0], format="csc") - q).tocsc(), r_s)
    assert np.abs(here.success - reference).max() < 1e-10

"""The absorbing-chain solve as Ray tasks: the units of `markov.solve.plan_units` (whole components,
independent systems) packed into about four tasks per CPU of the cluster, balanced by states, each task
receiving only its own blocks of Q and r. The units and the per-unit code are the in-process ones, so the
numbers are the same."""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from selflearn_assets.lib.compute.backend import ComputeConfig, ray_runtime
from selflearn_assets.lib.markov.solve import Unit, solve_unit

logger = logging.getLogger(__name__)
TASKS_PER_CPU = 4


def _solve_units(work: list[tuple[Unit, sp.csr_matrix, np.ndarray]]) -> tuple[list, str]:
    import ray

    return [(u, *solve_unit(u, q, r)) for u, q, r in work], ray.get_runtime_context().get_node_id()


def pack(units: list[Unit], n_tasks: int) -> list[list[Unit]]:
    """Units into at most `n_tasks` groups of near-equal states: biggest first, each to the lightest group."""
    groups: list[list[Unit]] = [[] for _ in range(max(1, min(n_tasks, len(units))))]
    load = [0] * len(groups)
    for unit in sorted(units, key=lambda u: u.b - u.a, reverse=True):
        k = load.index(min(load))
        groups[k].append(unit)
        load[k] += unit.b - unit.a
    return [g for g in groups if g]


def solve_units_on_ray(
    q: sp.csr_matrix, r: np.ndarray, units: list[Unit], config: ComputeConfig
) -> tuple[list[tuple[Unit, np.ndarray, dict[str, int]]], set[str]]:
    """[(unit, p of its states, components by method)] and the ids of the Ray nodes that solved them."""
    ray = ray_runtime(config)
    start = time.perf_counter()
    task = ray.remote(num_cpus=1, scheduling_strategy="SPREAD")(_solve_units)
    groups = pack(units, TASKS_PER_CPU * max(1, int(ray.cluster_resources().get("CPU", 1))))
    pending = [task.remote([(u, q[u.a : u.b, u.a : u.b], r[u.a : u.b]) for u in g]) for g in groups]
    solved, nodes = [], set()
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        results, node = ray.get(done[0])
        solved.extend(results)
        nodes.add(node)
        logger.info("Markov solve on Ray: %d of %d tasks done", len(groups) - len(pending), len(groups))
    logger.info(
        "solved %d states in %d units on %d Ray node(s) in %.1f s",
        q.shape[0],
        len(units),
        len(nodes),
        time.perf_counter() - start,
    )
    return solved, nodes

"""Absorption probabilities of an absorbing Markov chain, one weakly connected component at a time.

With Q the transient→transient transition matrix and r the transient→SUCCESS probabilities, the
probability p_i of ending in SUCCESS from transient state i obeys first-step analysis,
p_i = r_i + Σ_j Q_ij p_j, i.e. (I − Q) p = r. The fundamental matrix (I − Q)⁻¹ is never formed.

(I − Q) is block diagonal over the weakly connected components of Q's graph, so each component is an
independent system. Reformulation graphs are mostly many tiny paraphrase families plus a few big
hubs, so components are grouped by size and each group is solved the cheapest way that is safe:

- size 1: closed form, p = r / (1 − Q_ii) (Q_ii: the user repeating the same words);
- size 2..`dense_max`: all components of one size stacked into a (m, s, s) array and solved by one
  batched LAPACK call (`numpy.linalg.solve`), in chunks of bounded memory;
- size up to `lu_max`: block-diagonal batches of whole components, one sparse LU each
  (`scipy.sparse.linalg.splu`, COLAMD ordering); fill-in stays inside each block;
- bigger: BiCGSTAB with a Jacobi preconditioner, because a sparse LU of a big hub-shaped component
  fills in catastrophically (tens of seconds for 2·10^4 states). The result is checked: when the
  residual max_i |((I − Q) p − r)_i| exceeds `ITERATIVE_TOL`, the component falls back to a sparse
  LU. Absorbing chains suit the iteration: every step leaks probability into the absorbing states,
  so the preconditioned spectrum sits well inside the unit disc.

(I − Q) is invertible only where every state can reach an absorbing state. States that cannot
(a closed loop of reformulations whose ending fell outside the window) are never absorbed, so their
SUCCESS probability is 0; they are found by a breadth-first search backwards from the states with an
absorbing transition, set to 0 and left out of the solve.

`plan_units` lists those solves (whole components, one method each); a large chain's units run as Ray tasks
(`lib/compute/markov.py`, above SELFLEARN_RAY_MIN_STATES live states), a smaller one's here, with the same
per-unit code, so both give the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components
from scipy.sparse.linalg import bicgstab, splu

from selflearn_assets.lib.compute.backend import ComputeConfig

DENSE_MAX = 64
LU_MAX = 2048
# Batches of mid-size components hold at most this many states per sparse LU.
LU_BATCH_STATES = 65_536
ITERATIVE_TOL = 1e-10
# A dense chunk holds at most this many matrix entries (8 bytes each): 32 MiB.
DENSE_CHUNK_ENTRIES = 4_000_000


@dataclass(frozen=True)
class Absorption:
    """Solution of (I − Q) p = r for every transient state."""

    success: np.ndarray  # P(absorbed in SUCCESS | start in state i), float64
    component: np.ndarray  # weakly connected component of each state; -1 for a trapped state
    n_components: int
    largest_component: int  # states in the biggest component
    n_trapped: int  # states that cannot reach an absorbing state (success = 0)
    max_residual: float  # max_i |((I − Q) p − r)_i| over solved states: the accuracy check
    seconds: float
    components_by_method: dict[str, int] = field(default_factory=dict)
    ray_nodes: frozenset[str] = frozenset()  # the Ray nodes that solved it; empty: solved in this process


def absorption_probabilities(
    q: sp.csr_matrix,
    r_success: np.ndarray,
    r_failure: np.ndarray,
    dense_max: int = DENSE_MAX,
    lu_max: int = LU_MAX,
    compute: ComputeConfig | None = None,
) -> Absorption:
    """P(SUCCESS) from each transient state, given Q (n×n, rows sum to 1 − r_success − r_failure). With
    at least `compute.min_states` live states (default: the SELFLEARN_RAY* settings), the units of
    `plan_units` are solved as Ray tasks (`lib/compute/markov.py`), else here, one after another."""
    start = time.perf_counter()
    n = q.shape[0]
    q = sp.csr_matrix(q, dtype=np.float64)
    r_success = np.asarray(r_success, dtype=np.float64)
    success = np.zeros(n)
    component = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return Absorption(success, component, 0, 0, 0, 0.0, time.perf_counter() - start)

    live = _can_reach_absorption(q, (r_success + np.asarray(r_failure)) > 0)
    live_idx = np.flatnonzero(live)
    q_live = q if live_idx.size == n else q[live_idx][:, live_idx]
    n_comp, labels = connected_components(q_live, directed=True, connection="weak")
    sizes = np.bincount(labels, minlength=n_comp)

    # Order states by (component size, component): each size is one contiguous run, each component
    # a contiguous block inside it, so every group below is a slice of the permuted matrix.
    order = np.argsort(sizes[labels].astype(np.int64) * n_comp + labels, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    q_perm = _permute(q_live, order, position)
    r_perm = r_success[live_idx][order]
    p_perm = np.zeros(order.size)
    state_sizes = sizes[labels][order]
    used = dict.fromkeys(("closed_form", "dense_batch", "sparse_lu", "iterative", "iterative_then_lu"), 0)
    units = plan_units(state_sizes, dense_max, lu_max)
    compute = compute if compute is not None else ComputeConfig.from_env()
    ray_nodes: set[str] = set()
    if compute.runs_on_ray("solve", order.size):
        from selflearn_assets.lib.compute.markov import solve_units_on_ray

        solved, ray_nodes = solve_units_on_ray(q_perm, r_perm, units, compute)
    else:
        solved = ((u, *solve_unit(u, q_perm[u.a : u.b, u.a : u.b], r_perm[u.a : u.b])) for u in units)
    for unit, p_block, counts in solved:
        p_perm[unit.a : unit.b] = p_block
        for method, count in counts.items():
            used[method] += count

    residual = p_perm - q_perm @ p_perm - r_perm
    success[live_idx[order]] = p_perm
    component[live_idx] = labels
    return Absorption(
        success=success,
        component=component,
        n_components=int(n_comp),
        largest_component=int(sizes.max()) if n_comp else 0,
        n_trapped=int(n - live_idx.size),
        max_residual=float(np.abs(residual).max()) if residual.size else 0.0,
        seconds=time.perf_counter() - start,
        components_by_method=used,
        ray_nodes=frozenset(ray_nodes),
    )


@dataclass(frozen=True)
class Unit:
    """Whole components in the permuted slice [a, b), solved by one method: `size` is their common size
    (`closed_form`, `dense_batch`, `iterative`) or their count (`sparse_lu`, a batch of mixed sizes)."""

    method: str
    a: int
    b: int
    size: int


def plan_units(state_sizes: np.ndarray, dense_max: int = DENSE_MAX, lu_max: int = LU_MAX) -> list[Unit]:
    """The independent solves of the permuted system, given each state's component size (sorted ascending):
    the same split whether they run here or as Ray tasks, so both give the same numbers."""
    units: list[Unit] = []
    bounds = np.flatnonzero(np.diff(state_sizes)) + 1
    lu_batch: list[tuple[int, int]] = []  # consecutive mid-size components, solved together
    for a, b in zip(np.r_[0, bounds], np.r_[bounds, state_sizes.size], strict=True):
        a, b, s = int(a), int(b), int(state_sizes[a])
        if s == 1:
            units.append(Unit("closed_form", a, b, 1))
        elif s <= dense_max:
            step = max(1, DENSE_CHUNK_ENTRIES // (s * s)) * s
            units.extend(Unit("dense_batch", c, min(b, c + step), s) for c in range(a, b, step))
        elif s <= lu_max:
            for c in range(a, b, s):
                if lu_batch and c + s - lu_batch[0][0] > LU_BATCH_STATES:
                    units.append(Unit("sparse_lu", lu_batch[0][0], lu_batch[-1][1], len(lu_batch)))
                    lu_batch = []
                lu_batch.append((c, c + s))
        else:
            units.extend(Unit("iterative", c, c + s, s) for c in range(a, b, s))
    if lu_batch:
        units.append(Unit("sparse_lu", lu_batch[0][0], lu_batch[-1][1], len(lu_batch)))
    return units


def solve_unit(unit: Unit, q: sp.csr_matrix, r: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """(p of the unit's states, components solved by each method), from the unit's block of Q and r."""
    if unit.method == "closed_form":
        return r / (1.0 - q.diagonal()), {"closed_form": unit.b - unit.a}
    if unit.method == "dense_batch":
        return _solve_dense_batch(q, r, unit.size), {"dense_batch": (unit.b - unit.a) // unit.size}
    if unit.method == "sparse_lu":
        return _solve_lu(q, r), {"sparse_lu": unit.size}
    p = _solve_iterative(q, r)
    if p is not None:
        return p, {"iterative": 1}
    return _solve_lu(q, r), {"iterative_then_lu": 1}


def _can_reach_absorption(q: sp.csr_matrix, exits: np.ndarray) -> np.ndarray:
    """States with a path (along Q's edges) to a state that has an absorbing transition."""
    if exits.all():
        return exits
    n = q.shape[0]
    # Search the reversed graph from a virtual root n whose edges go to every exit state.
    qt = q.T.tocsr()
    exit_idx = np.flatnonzero(exits).astype(qt.indices.dtype)
    indptr = np.r_[qt.indptr, qt.indptr[-1] + exit_idx.size]
    graph = sp.csr_matrix(
        (np.ones(qt.nnz + exit_idx.size), np.r_[qt.indices, exit_idx], indptr), shape=(n + 1, n + 1)
    )
    reached = breadth_first_order(graph, n, directed=True, return_predecessors=False)
    live = np.zeros(n + 1, dtype=bool)
    live[reached] = True
    return live[:n]


def _permute(q: sp.csr_matrix, order: np.ndarray, position: np.ndarray) -> sp.csr_matrix:
    """P Q Pᵀ for the permutation that puts state order[k] at k."""
    coo = q.tocoo()
    return sp.csr_matrix((coo.data, (position[coo.row], position[coo.col])), shape=q.shape)


def _solve_lu(q: sp.csr_matrix, r: np.ndarray) -> np.ndarray:
    """p from a sparse LU of a block-diagonal block of whole components."""
    system = (sp.identity(q.shape[0], format="csc") - q).tocsc()
    return splu(system, permc_spec="COLAMD").solve(r)


def _solve_iterative(q: sp.csr_matrix, r: np.ndarray) -> np.ndarray | None:
    """p of one component by Jacobi-preconditioned BiCGSTAB; None if the residual check fails."""
    system = (sp.identity(q.shape[0], format="csr") - q).tocsr()
    jacobi = sp.diags(1.0 / system.diagonal())
    # Stop at a residual 2-norm of 1e-12 (which bounds every entry); judge by the residual itself,
    # not BiCGSTAB's exit code, which also reports stagnation at round-off level.
    x, _ = bicgstab(system, r, x0=r.copy(), rtol=0.0, atol=1e-12, maxiter=1000, M=jacobi)
    if not np.all(np.isfinite(x)) or np.abs(system @ x - r).max() > ITERATIVE_TOL:
        return None
    return x


def _solve_dense_batch(block: sp.csr_matrix, r: np.ndarray, s: int) -> np.ndarray:
    """Solve the m = len(r)/s independent s×s systems of a block-diagonal slice, m at a time."""
    coo = block.tocoo()
    comp, li, lj = coo.row // s, coo.row % s, coo.col % s
    m = r.size // s
    out = np.empty(r.size)
    chunk = max(1, DENSE_CHUNK_ENTRIES // (s * s))
    # Entries are sorted by row, hence by component: each chunk is a contiguous run of them.
    cuts = np.searchsorted(comp, np.arange(0, m + chunk, chunk))
    diag = np.arange(s)
    for k, c0 in enumerate(range(0, m, chunk)):
        c1 = min(m, c0 + chunk)
        e0, e1 = cuts[k], cuts[k + 1]
        a = np.zeros((c1 - c0, s, s))
        a[comp[e0:e1] - c0, li[e0:e1], lj[e0:e1]] = -coo.data[e0:e1]
        a[:, diag, diag] += 1.0
        out[c0 * s : c1 * s] = np.linalg.solve(a, r[c0 * s : c1 * s].reshape(-1, s, 1)).reshape(-1)
    return out

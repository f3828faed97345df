"""Where the heavy stages run (no Dagster here): the in-process path, or Ray (local or a cluster).

Modules: `backend` (the SELFLEARN_RAY* settings, starting or connecting Ray once per process), `encode`
(encoder inference as Ray Data batches over an actor pool), `markov` (the absorbing-chain solve, component
groups as Ray tasks).
"""

from selflearn_assets.lib.compute.backend import ComputeConfig, ray_runtime, shutdown

__all__ = ["ComputeConfig", "ray_runtime", "shutdown"]

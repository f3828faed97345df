"""Encoder inference as Ray Data batches over a pool of encoder actors.

Each actor loads the encoder once: from its directory when the encoder was loaded from one (every node has
the same installation), else from a copy shipped through Ray's object store (tiny test encoders built from a
config). Actors take one GPU each where the cluster has GPUs, else one CPU each. Texts carry their position,
so the vectors come back in the input's order whatever order the batches finish in; they are streamed into
one array, batch by batch, with progress logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from selflearn_assets.lib.compute.backend import ComputeConfig, ray_runtime

logger = logging.getLogger(__name__)

# Texts per Ray block (one actor call); the actor encodes a block in encoder batches of `batch_size`.
BLOCK_TEXTS = 2048


class EncoderActor:
    """One encoder, loaded once per actor; `__call__` maps a block {idx, text} to {idx, vector, node}."""

    def __init__(self, source: tuple[str, object], batch_size: int, max_length: int) -> None:
        import ray
        import torch

        from selflearn_assets.lib.models.encoder import load_encoder

        kind, value = source
        self.tokenizer, self.model = load_encoder(value) if kind == "path" else value
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu":
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
            torch.set_num_threads(max(1, int(cpus)))
        self.model = self.model.to(device).eval()
        self.batch_size, self.max_length = batch_size, max_length
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from selflearn_assets.lib.models.encoder import encode_batch

        texts = [str(t) for t in block["text"]]
        vectors = [
            encode_batch(self.tokenizer, self.model, texts[i : i + self.batch_size], self.max_length)
            for i in range(0, len(texts), self.batch_size)
        ]
        return {
            "idx": block["idx"],
            "vector": np.concatenate(vectors).astype(np.float32),
            "node": np.full(len(texts), self.node),
        }


def encoder_source(tokenizer, model) -> tuple[str, object]:
    """("path", dir) when the model was loaded from a local directory, else ("object", (tokenizer, model))."""
    path = str(getattr(model.config, "_name_or_path", "") or "")
    if path and (Path(path) / "config.json").is_file():
        return ("path", path)
    return ("object", (tokenizer, model))


def actor_pool(ray, n_blocks: int) -> dict:
    """map_batches' resources: one actor per GPU where the cluster has GPUs, else one per free CPU; no more
    actors than blocks. Each actor holds at most two blocks at a time, so blocks spread over the pool."""
    total, free = ray.cluster_resources(), ray.available_resources()
    if total.get("GPU", 0) >= 1:
        size, resources = int(free.get("GPU", 0)) or int(total["GPU"]), {"num_gpus": 1}
    else:
        size, resources = int(free.get("CPU", 0)) or 1, {"num_cpus": 1}
    size = max(1, min(size, n_blocks))
    return {"compute": ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=2), **resources}


def embed_on_ray(
    tokenizer,
    model,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int = 64,
    progress: bool = False,
    config: ComputeConfig | None = None,
) -> tuple[np.ndarray, set[str]]:
    """(vectors float32 (len(texts), dim) in the order of `texts`, the Ray node ids that encoded them)."""
    import pyarrow as pa

    dim = int(model.config.hidden_size)
    if len(texts) == 0:
        return np.zeros((0, dim), dtype=np.float32), set()
    ray = ray_runtime(config or ComputeConfig.from_env())

    start = time.perf_counter()
    idx = np.arange(len(texts), dtype=np.int64)
    column = pa.array([str(t) for t in texts], type=pa.large_string())
    # at least four blocks per CPU (or GPU) of the cluster, so that every actor gets work
    workers = max(1, int(ray.cluster_resources().get("GPU", 0) or ray.cluster_resources().get("CPU", 1)))
    step = max(batch_size, min(BLOCK_TEXTS, -(-len(texts) // (4 * workers))))
    blocks = [
        pa.table({"idx": idx[i : i + step], "text": column[i : i + step]}) for i in range(0, len(texts), step)
    ]
    pool = actor_pool(ray, len(blocks))
    logger.info(
        "encoding %d texts on Ray: %d blocks, %d actors (%s each)",
        len(texts),
        len(blocks),
        pool["compute"].min_size,
        "1 GPU" if "num_gpus" in pool else "1 CPU",
    )
    dataset = ray.data.from_arrow(blocks).map_batches(
        EncoderActor,
        batch_size=None,  # one call per block
        batch_format="numpy",
        fn_constructor_kwargs={
            "source": encoder_source(tokenizer, model),
            "batch_size": batch_size,
            "max_length": max_length,
        },
        **pool,
    )
    out = np.empty((len(texts), dim), dtype=np.float32)
    done, nodes, next_log = 0, set(), 0.1
    with tqdm(total=len(texts), desc="embed (ray)", unit="text", disable=not progress) as bar:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            out[batch["idx"]] = batch["vector"]
            nodes.update(str(n) for n in np.unique(batch["node"]))
            done += len(batch["idx"])
            bar.update(len(batch["idx"]))
            if done / len(texts) >= next_log:
                logger.info(
                    "encoded %d of %d texts on Ray (%.0f%%)", done, len(texts), 100 * done / len(texts)
                )
                next_log += 0.1
    if done != len(texts):
        raise RuntimeError(f"Ray returned {done} vectors for {len(texts)} texts")
    logger.info(
        "encoded %d texts on %d Ray node(s) in %.1f s", len(texts), len(nodes), time.perf_counter() - start
    )
    return out, nodes

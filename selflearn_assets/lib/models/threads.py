"""Thread count for small models: their per-batch ops are too small to gain from intra-op parallelism, and
on a busy CPU the idle-spinning of extra threads costs far more than it saves (a failure-point epoch measured
7x faster with one thread than two on this 2-core machine under load). The encoder's forward pass, which is
large, keeps the process's setting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with `n` intra-op threads, restoring the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

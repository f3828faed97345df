"""The one training loop of the platform's models (label model, failure-point model, rephrase detector and their
baselines): epochs of shuffled batches, AdamW steps with clipped gradients, validation after each epoch, early
stopping that keeps the best epoch's weights, a tqdm bar named after the model, torch on one thread.

A model brings what is its own: its batches (`batches()`, called at the start of every epoch, so a shuffle
drawn from the model's seeded generator happens there), its loss (`loss_fn(model, batch)`: the loss, or
{"loss": the loss to minimise, <part>: a reported part}), its validation (`validate(model)`: {name: value},
run in eval mode without gradients) and the names of its history rows (`row`).

Each epoch's training means are weighted per batch (`weigh(batch)`, default 1: a mean over batches). The
history holds one row per epoch run, `row(epoch, means) | validate(model)`; `Fit.epochs_run` is its length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from selflearn_assets.lib.models.early_stopping import EarlyStopping
from selflearn_assets.lib.models.threads import torch_threads

Batch = Any
LossFn = Callable[[nn.Module, Batch], "torch.Tensor | dict[str, torch.Tensor]"]


@dataclass
class Fit:
    """What `fit` ran: one history row per epoch, the best monitored score and its epoch (None / -1 without
    validation), and the optimizer (a later phase may continue with it)."""

    history: list[dict[str, float]]
    best_score: float | None
    best_epoch: int
    optimizer: torch.optim.Optimizer = field(repr=False)

    @property
    def epochs_run(self) -> int:
        return len(self.history)


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 1e-2) -> torch.optim.AdamW:
    """AdamW over the model's trainable parameters (weight decay: AdamW's default)."""
    return torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay
    )


def shuffled(items: Sequence | torch.Tensor, gen: torch.Generator) -> list | torch.Tensor:
    """`items` in a random order drawn from `gen` (a tensor stays a tensor)."""
    order = torch.randperm(len(items), generator=gen)
    return items[order] if isinstance(items, torch.Tensor) else [items[i] for i in order.tolist()]


def chunks(items: Sequence | torch.Tensor, size: int) -> list:
    """Consecutive slices of `size` items (the last may be shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def loss_names(prefix: str, means: dict[str, float]) -> dict[str, float]:
    """History names of an epoch's means: "loss" -> `<prefix>_loss`, a part -> `<prefix>_<part>_loss`."""
    return {(f"{prefix}_loss" if k == "loss" else f"{prefix}_{k}_loss"): v for k, v in means.items()}


def run_epoch(
    model: nn.Module,
    batches: Iterable[Batch],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer | None = None,
    weigh: Callable[[Batch], float] | None = None,
    clip: float = 1.0,
) -> dict[str, float]:
    """One pass over `batches`: with an optimizer, in train mode, a step per batch (gradient norm clipped to
    `clip`); without, in eval mode and without gradients. Returns the weighted mean of the loss and of each
    reported part, in the order `loss_fn` gives them."""
    training = optimizer is not None
    model.train(training)
    params = [p for group in optimizer.param_groups for p in group["params"]] if training else []
    totals: dict[str, float] = {}
    weight = 0
    for batch in batches:
        with torch.set_grad_enabled(training):
            out = loss_fn(model, batch)
            parts = out if isinstance(out, dict) else {"loss": out}
        if training:
            optimizer.zero_grad()
            parts["loss"].backward()
            nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
        w = weigh(batch) if weigh is not None else 1
        for k, v in parts.items():
            totals[k] = totals.get(k, 0.0) + v.item() * w
        weight += w
    totals.setdefault("loss", 0.0)  # no batch: a loss of 0, as a sum over nothing
    return {k: v / max(weight, 1) for k, v in totals.items()}


def default_row(epoch: int, means: dict[str, float]) -> dict[str, float]:
    return {"epoch": epoch, **loss_names("train", means)}


def fit(
    model: nn.Module,
    batches: Callable[[], Iterable[Batch]],
    loss_fn: LossFn,
    *,
    epochs: int,
    desc: str,
    lr: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    validate: Callable[[nn.Module], dict[str, float]] | None = None,
    monitor: str = "val_loss",
    higher_is_better: bool = False,
    patience: int | None = None,
    weigh: Callable[[Batch], float] | None = None,
    row: Callable[[int, dict[str, float]], dict[str, float]] = default_row,
    progress: bool = True,
    clip: float = 1.0,
    threads: int = 1,
) -> Fit:
    """Train `model` for at most `epochs` epochs (see the module docstring) with `optimizer`, or a new
    `make_optimizer(model, lr)`.

    With `validate`, each epoch ends with it (eval mode, no gradients); `patience` epochs in a row without
    beating the best `monitor` value by more than `EarlyStopping`'s min_delta stop training (None: never),
    and the model ends with the best epoch's weights, in eval mode. Without `validate` every epoch runs and
    the model keeps its last weights (a pretraining phase)."""
    if optimizer is None:
        if lr is None:
            raise ValueError("fit needs an optimizer or a learning rate")
        optimizer = make_optimizer(model, lr)
    stopper = (
        EarlyStopping(math.inf if patience is None else patience, higher_is_better=higher_is_better)
        if validate is not None
        else None
    )
    history: list[dict[str, float]] = []
    with torch_threads(threads):
        for epoch in tqdm(range(epochs), desc=desc, disable=not progress):
            means = run_epoch(model, batches(), loss_fn, optimizer, weigh, clip)
            entry = row(epoch, means)
            if validate is not None:
                model.eval()
                with torch.no_grad():
                    entry |= validate(model)
            history.append(entry)
            if stopper is not None and stopper.step(model, entry[monitor]):
                break
        if stopper is not None:
            stopper.restore(model).eval()
    if stopper is None:
        return Fit(history, None, -1, optimizer)
    return Fit(history, stopper.best_score, stopper.best_epoch, optimizer)

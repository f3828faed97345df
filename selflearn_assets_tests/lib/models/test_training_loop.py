"""The shared training loop on a one-weight model y = w * x, whose AdamW steps and losses are worked out by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selflearn_assets.lib.models import training_loop


class OneWeight(nn.Module):
    def __init__(self, w: float = 0.0) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * x


def squared_error(model: OneWeight, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def batch(*xs: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of y = 2x: the best weight is 2."""
    x = torch.tensor(xs)
    return x, 2 * x


def scripted(scores: list[float], key: str = "val_loss", seen: list | None = None):
    """A validation that returns the next of `scores`, recording the weight it saw."""
    it = iter(scores)

    def validate(model: OneWeight) -> dict[str, float]:
        if seen is not None:
            seen.append(model.w.item())
        return {key: next(it)}

    return validate


@pytest.mark.parametrize(("by_rows", "expected"), [(True, 7.48), (False, 9.22)])
def test_first_adamw_step_and_batch_weighted_means(by_rows, expected):
    """Batch A = x (1, 1) at w = 0: loss ((0-2)^2 + (0-2)^2) / 2 = 4, gradient -8. AdamW's first step moves w by lr
    times g / |g| (weight decay on 0 is 0): w = 0.1. Batch B = x (2) at w = 0.1: loss (0.2 - 4)^2 = 14.44. The
    epoch's train loss is their mean weighted by rows, (2 * 4 + 1 * 14.44) / 3 = 7.48, or per batch 9.22."""
    model = OneWeight()
    optimizer = training_loop.make_optimizer(model, lr=0.1)
    seen: list[float] = []

    def loss(m, b):
        seen.append(m.w.item())
        return squared_error(m, b)

    weigh = (lambda b: len(b[0])) if by_rows else None
    means = training_loop.run_epoch(model, [batch(1, 1), batch(2)], loss, optimizer, weigh=weigh)
    assert seen[0] == 0.0 and seen[1] == pytest.approx(0.1, abs=1e-7)
    assert means == {"loss": pytest.approx(expected, abs=1e-5)}
    assert model.training and optimizer.state[model.w]["step"] == 2


def test_evaluation_pass_changes_nothing_and_reports_parts():
    model = OneWeight(1.0)

    def parts(m, b):
        error = squared_error(m, b)
        return {"half": error / 2, "loss": error}

    # w = 1 on y = 2x: x = 1 -> 1, x = 3 -> 9; per-batch means: loss (1 + 9) / 2 = 5, half 2.5
    means = training_loop.run_epoch(model, [batch(1), batch(3)], parts)
    assert list(means) == ["half", "loss"] and means == {"half": 2.5, "loss": 5.0}
    assert model.w.item() == 1.0 and not model.training and model.w.grad is None
    assert training_loop.loss_names("val", means) == {"val_half_loss": 2.5, "val_loss": 5.0}
    assert training_loop.run_epoch(model, [], parts) == {"loss": 0.0}  # no batch


def test_early_stopping_stops_at_patience_and_restores_the_best_epoch():
    """Validation losses 5, 4, 4.5, 4.2 (patience 2): epoch 1 is the best, epochs 2 and 3 do not beat it, so
    training stops after epoch 3 (4 of 10 epochs) with epoch 1's weight."""
    model, seen = OneWeight(), []
    fit = training_loop.fit(
        model, lambda: [batch(1, 2)], squared_error, epochs=10, lr=0.1, desc="one weight", progress=False,
        validate=scripted([5.0, 4.0, 4.5, 4.2, 1.0, 1.0], seen=seen), patience=2,
    )  # fmt: skip
    assert fit.epochs_run == 4 and [row["epoch"] for row in fit.history] == [0, 1, 2, 3]
    assert (fit.best_epoch, fit.best_score) == (1, 4.0)
    assert [row["val_loss"] for row in fit.history] == [5.0, 4.0, 4.5, 4.2]
    assert len(set(seen)) == 4 and model.w.item() == seen[1]  # the weight validated at epoch 1
    assert not model.training
    # the train loss went down from the first epoch (w = 0: (4 + 16) / 2 = 10, before any step)
    assert fit.history[0]["train_loss"] == pytest.approx(10.0)
    assert fit.history[-1]["train_loss"] < fit.history[0]["train_loss"]


def test_higher_is_better_and_min_delta():
    """Macro-F1 0.2, 0.5, 0.50005 (not better by more than min_delta 1e-4), 0.4: patience 2 stops after epoch 3."""
    fit = training_loop.fit(
        OneWeight(), lambda: [batch(1)], squared_error, epochs=10, lr=0.1, desc="f1", progress=False,
        validate=scripted([0.2, 0.5, 0.50005, 0.4, 0.9], key="val_macro_f1"), monitor="val_macro_f1",
        higher_is_better=True, patience=2,
    )  # fmt: skip
    assert (fit.epochs_run, fit.best_epoch, fit.best_score) == (4, 1, 0.5)


def test_without_validation_every_epoch_runs_and_a_later_phase_continues_the_optimizer():
    model = OneWeight()
    first = training_loop.fit(
        model, lambda: [batch(1), batch(2)], squared_error, epochs=3, lr=0.1, desc="pretraining", progress=False,
        row=lambda epoch, means: {"epoch": epoch, "phase": 1.0, "pretrain_loss": means["loss"]},
    )  # fmt: skip
    assert first.epochs_run == 3 and (first.best_score, first.best_epoch) == (None, -1)
    assert first.history[0] == {"epoch": 0, "phase": 1.0, "pretrain_loss": pytest.approx((4 + 3.8**2) / 2)}
    assert model.training  # no validation: left as trained
    second = training_loop.fit(
        model, lambda: [batch(1)], squared_error, epochs=2, optimizer=first.optimizer, desc="train",
        progress=False, validate=scripted([1.0, 2.0]), patience=None,
    )  # fmt: skip
    assert second.optimizer is first.optimizer and first.optimizer.state[model.w]["step"] == 3 * 2 + 2
    assert second.epochs_run == 2 and second.best_epoch == 0  # patience None: never stops early
    with pytest.raises(ValueError, match="optimizer or a learning rate"):
        training_loop.fit(model, list, squared_error, epochs=1, desc="x", progress=False)


def test_loss_goes_to_the_optimum():
    """Full-batch AdamW on y = 2x reaches w = 2 (weight decay 0.01 * lr pulls it only by ~1e-3)."""
    model = OneWeight()
    fit = training_loop.fit(
        model, lambda: [batch(1, 2, 3)], squared_error, epochs=300, lr=0.05, desc="fit", progress=False
    )
    assert model.w.item() == pytest.approx(2.0, abs=0.02)
    assert fit.history[0]["train_loss"] == pytest.approx((4 + 16 + 36) / 3)
    assert fit.history[-1]["train_loss"] < 1e-3


def test_runs_on_one_thread_and_restores_the_setting():
    before = torch.get_num_threads()
    inside: list[int] = []

    def loss(m, b):
        inside.append(torch.get_num_threads())
        return squared_error(m, b)

    training_loop.fit(OneWeight(), lambda: [batch(1)], loss, epochs=2, lr=0.1, desc="x", progress=False)
    assert inside == [1, 1] and torch.get_num_threads() == before


def test_progress_bar_carries_the_model_name(capsys):
    training_loop.fit(OneWeight(), lambda: [batch(1)], squared_error, epochs=1, lr=0.1, desc="my model")
    assert "my model" in capsys.readouterr().err


def test_shuffled_and_chunks():
    gen, reference = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    items = ["a", "b", "c", "d", "e", "f", "g"]
    order = torch.randperm(7, generator=reference).tolist()
    assert training_loop.shuffled(items, gen) == [items[i] for i in order]
    tensor = torch.arange(10, 17)
    mixed = training_loop.shuffled(tensor, torch.Generator().manual_seed(3))
    assert isinstance(mixed, torch.Tensor) and mixed.tolist() == [10 + i for i in order]
    assert training_loop.chunks(items, 3) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    assert [c.tolist() for c in training_loop.chunks(tensor, 4)] == [[10, 11, 12, 13], [14, 15, 16]]

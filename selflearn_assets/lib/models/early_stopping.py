"""Early stopping on a validation score: keeps the best weights and says when patience ran out."""

from __future__ import annotations

import copy

from torch import nn


class EarlyStopping:
    """`step(model, score)` after each epoch; `restore(model)` loads the best weights seen.

    `higher_is_better`: a score to maximise (F1) rather than minimise (a loss). An epoch counts as an
    improvement only when it beats the best by more than `min_delta`.
    """

    def __init__(self, patience: int, higher_is_better: bool = False, min_delta: float = 1e-4) -> None:
        self.patience, self.sign, self.min_delta = patience, (1.0 if higher_is_better else -1.0), min_delta
        self.best_score: float | None = None
        self.best_state: dict | None = None
        self.best_epoch = -1
        self.waited = 0
        self._epoch = -1

    def step(self, model: nn.Module, score: float) -> bool:
        """Record this epoch's score; True when training should stop."""
        self._epoch += 1
        if self.best_score is None or self.sign * (score - self.best_score) > self.min_delta:
            self.best_score, self.best_epoch, self.waited = score, self._epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, model: nn.Module) -> nn.Module:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return model

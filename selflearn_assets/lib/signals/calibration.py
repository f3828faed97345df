"""The defect combination as a logistic model: default prior, MAP fit on gold, and calibration metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import rankdata

from selflearn_assets.lib.signals.params import DEFECT_SIGNALS, SignalParams


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class DefectModel:
    """defect_prob = sigmoid(bias + weights . signals); `day` is the defect_model row it came from, if any."""

    bias: float
    weights: dict[str, float]
    day: date | None = None

    @classmethod
    def prior(cls, params: SignalParams) -> DefectModel:
        """Single-cue prior: P(defect | only signal i) = q_i, P(defect | no signal) = base_defect_prob."""
        bias = _logit(params.base_defect_prob)
        return cls(bias, {s: _logit(params.signal_defect_probs[s]) - bias for s in DEFECT_SIGNALS})

    @classmethod
    def from_json(cls, weights: dict[str, float], day: date | None) -> DefectModel:
        return cls(float(weights["bias"]), {s: float(weights[s]) for s in DEFECT_SIGNALS}, day)

    def to_json(self) -> dict[str, float]:
        return {"bias": self.bias, **self.weights}

    @property
    def vector(self) -> np.ndarray:
        """[bias, w_1, ..., w_k] in DEFECT_SIGNALS order."""
        return np.array([self.bias, *(self.weights[s] for s in DEFECT_SIGNALS)])

    def sql_params(self) -> dict[str, float | date | None]:
        return {"bias": self.bias, **{f"w_{s}": w for s, w in self.weights.items()}, "model_day": self.day}

    def predict(self, x: np.ndarray) -> np.ndarray:
        return expit(self.vector[0] + x @ self.vector[1:])


def fit_map_logistic(x: np.ndarray, y: np.ndarray, prior: np.ndarray, l2: float) -> np.ndarray:
    """argmin_theta  sum_n logloss(y_n, sigmoid(theta_0 + x_n theta_1:)) + l2/2 |theta - prior|^2.

    The Gaussian prior keeps signals that never fire in the gold set at their default weight."""
    design = np.hstack([np.ones((len(x), 1)), x])

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ theta
        # log(1 + e^z) - y z, stably
        loss = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.sum((theta - prior) ** 2)
        grad = design.T @ (expit(z) - y) + l2 * (theta - prior)
        return float(loss), grad

    return minimize(objective, prior.copy(), jac=True, method="L-BFGS-B").x


def grouped_cv_predict(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, prior: np.ndarray, l2: float, folds: int
) -> np.ndarray | None:
    """Out-of-fold predictions with folds of whole sessions; None when there are too few sessions."""
    _, group_index = np.unique(groups, return_inverse=True)
    if group_index.max(initial=-1) + 1 < folds:
        return None
    fold = group_index % folds
    out = np.empty(len(y))
    for k in range(folds):
        test = fold == k
        theta = fit_map_logistic(x[~test], y[~test], prior, l2)
        out[test] = expit(theta[0] + x[test] @ theta[1:])
    return out


@dataclass(frozen=True)
class FitChoice:
    """Whether the day's refit replaces the prior, and why, e.g. "Brier 0.0232 < prior 0.0236"."""

    use_fit: bool
    why: str


def choose_fit(fitted_brier: float | None, prior_brier: float) -> FitChoice:
    """Keep the refit only when its Brier on held-out sessions (`grouped_cv_predict`) is below the prior's on
    the same gold turns (the prior was not fitted on them, so its score there is held-out too). Without
    held-out predictions (fewer sessions than folds: `fitted_brier` None) the fit cannot be judged fairly:
    the prior is kept."""
    if fitted_brier is None:
        return FitChoice(
            False, f"too few sessions to score the fit on held-out ones; prior Brier {prior_brier:.4f}"
        )
    a, b = _distinct(fitted_brier, prior_brier)
    if fitted_brier < prior_brier:
        return FitChoice(True, f"Brier {a} < prior {b}")
    return FitChoice(False, f"fitted Brier {a} >= prior {b}")


def _distinct(a: float, b: float) -> tuple[str, str]:
    """`a` and `b` with 4 decimals, or more where 4 would print two different numbers alike."""
    for digits in range(4, 10):
        if a == b or f"{a:.{digits}f}" != f"{b:.{digits}f}":
            break
    return f"{a:.{digits}f}", f"{b:.{digits}f}"


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties counted half); None with one class only."""
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration_metrics(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """Brier score, log loss, expected calibration error, AUC and the reliability table of p against y."""
    y = y.astype(float)
    p = np.clip(p.astype(float), 1e-12, 1 - 1e-12)
    which = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    mean_pred = np.bincount(which, weights=p, minlength=bins)
    positives = np.bincount(which, weights=y, minlength=bins)
    filled = count > 0
    mean_pred[filled] /= count[filled]
    frac_pos = np.where(filled, positives / np.maximum(count, 1), 0.0)
    reliability = [
        {
            "bin": f"[{b / bins:.2f}, {(b + 1) / bins:.2f})",
            "n": int(count[b]),
            "mean_pred": float(mean_pred[b]),
            "frac_defective": float(frac_pos[b]),
        }
        for b in range(bins)
        if count[b]
    ]
    return {
        "n": len(y),
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "ece": float(np.sum(count[filled] * np.abs(mean_pred[filled] - frac_pos[filled])) / len(y)),
        "auc": auc(y, p),
        "reliability": reliability,
    }

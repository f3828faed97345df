"""The online ranker: P(rewriting the request to this candidate is right), calibrated, with abstention.

A gradient-boosted classifier (scikit-learn's HistGradientBoosting: NaN-aware; scored at serving time by
`tree_scoring.CompiledTrees`, all trees for all of a request's candidates at once, ~0.2 ms) over
`features.FEATURES`, trained on weak labels (`training.py`: what users rephrased into after
a defect; nothing for requests that worked), then calibrated by Platt scaling (a logistic regression on the
logit of the model's P) on requests held out of the fit (split by request, so a request's candidates are on
one side). The map is strictly increasing, so calibration never ties two candidates the model tells apart
(isotonic regression did: its top plateau held a fifth of the rewrites, ranked by chance); it is stored as
`CALIBRATION_POINTS` points of (raw P, calibrated P), read by linear interpolation. The ranker rewrites only when the
calibrated P of its best candidate clears `threshold`. The weak labels are strict (a candidate counts only
when it is, or means, the very rephrase the user said), so their P understates how often a rewrite is right:
the threshold is chosen on the audit gold of the training days (`gold_threshold.py`: the lowest P at which
the rewrites win >= W per loss on turns the fitting never saw); without gold it is P >= W / (1 + W) for the
target win/loss W (11.8 -> 0.922), since a rewrite right with probability P wins P and loses 1 - P.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import joblib
import numpy as np

from selflearn_assets.lib.online.features import FEATURES
from selflearn_assets.lib.online.tree_scoring import CompiledTrees

TARGET_WIN_LOSS = 11.8
# Directions the evidence can only push: the better a request already works (for everyone, for this user),
# the less a rewrite of it can be right; the better a candidate works and the more this user says it, the more.
MONOTONIC = {
    "req_global_success": -1,
    "req_personal_success": -1,
    "cand_global_success": 1,
    "cand_personal_success": 1,
    "affinity": 1,
    "req_word_support": -1,
    "dropped_word_support": -1,
}


def threshold_for(win_loss: float) -> float:
    return win_loss / (1.0 + win_loss)


@dataclass(frozen=True)
class RankerConfig:
    max_iter: int = 200
    learning_rate: float = 0.08
    max_depth: int = 4
    min_samples_leaf: int = 20
    calibration_share: float = 0.3  # requests held out of the fit for the calibration
    target_win_loss: float = TARGET_WIN_LOSS
    threshold_confidence: float = 0.8  # of the win share's lower bound at the gold-chosen threshold (0: none)
    seed: int = 0


@dataclass
class Ranker:
    model: object
    calib_x: np.ndarray
    calib_y: np.ndarray
    threshold: float
    features: tuple[str, ...] = tuple(FEATURES)
    unseen: tuple[int, ...] = ()  # feature columns that were missing on every training example: read as 0

    def __post_init__(self) -> None:
        # the trees as flat numpy arrays: ~10x faster than the model's per-tree predict_proba for a request
        self.trees = CompiledTrees.from_model(self.model)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0)
        return self.calibrate(self.trees.proba(fill_unseen(x, self.unseen)))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """The calibration map from the model's raw P to the calibrated P (strictly increasing)."""
        return np.interp(raw, self.calib_x, self.calib_y)

    def choose(self, x: np.ndarray) -> tuple[int | None, np.ndarray]:
        """(row of the candidate to rewrite to, or None to abstain; every candidate's calibrated P)."""
        p = self.probabilities(x)
        if not len(p):
            return None, p
        best = int(np.argmax(p))
        return (best if p[best] >= self.threshold else None), p

    def save(self, path: Path) -> None:
        joblib.dump(
            {
                "unseen": list(self.unseen),
                "model": self.model,
                "calib_x": self.calib_x,
                "calib_y": self.calib_y,
                "threshold": self.threshold,
                "features": list(self.features),
            },
            path,
        )

    @classmethod
    def load(cls, path: Path) -> Ranker:
        saved = joblib.load(path)
        if list(saved["features"]) != FEATURES:
            raise ValueError(
                f"{path}: ranker trained on features {saved['features']}, this code computes {FEATURES}"
            )
        return cls(
            saved["model"],
            saved["calib_x"],
            saved["calib_y"],
            float(saved["threshold"]),
            tuple(FEATURES),
            tuple(saved["unseen"]),
        )


def fill_unseen(x: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    if not columns:
        return x
    x = x.copy()
    x[:, list(columns)] = 0.0
    return x


CALIBRATION_POINTS = 513
_EPS = 1e-9


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def platt_points(raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raw P, calibrated P) points of the Platt map fitted on (raw, y): sigmoid(a * logit(raw) + b), a > 0,
    at raw P spaced evenly in logit space from 1e-9 to 1 - 1e-9."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e6).fit(_logit(raw)[:, None], y)
    a, b = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if a <= 0:  # the model ranks no better than chance on the held-out requests: keep its own P
        a, b = 1.0, 0.0
    grid = np.linspace(_logit(np.array([_EPS]))[0], _logit(np.array([1 - _EPS]))[0], CALIBRATION_POINTS)
    return 1.0 / (1.0 + np.exp(-grid)), 1.0 / (1.0 + np.exp(-(a * grid + b)))


def fit_model(x: np.ndarray, y: np.ndarray, config: RankerConfig):
    """The gradient-boosted classifier of `config` fitted on (x, y) (unseen columns already filled)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        max_depth=config.max_depth,
        min_samples_leaf=config.min_samples_leaf,
        monotonic_cst=[MONOTONIC.get(f, 0) for f in FEATURES],
        random_state=config.seed,
    ).fit(x, y)


def train_ranker(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, config: RankerConfig
) -> tuple[Ranker, dict]:
    """Fit on the requests outside a held-out share, calibrate on that share; report what each saw."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    if len(np.unique(y)) < 2:
        raise ValueError(
            f"the ranker needs positive and negative examples; got {int(y.sum())} of {len(y)} positive"
        )
    unseen = tuple(int(c) for c in np.flatnonzero(np.isnan(x).all(axis=0)))
    x = fill_unseen(x, unseen)
    rng = np.random.default_rng(config.seed)
    unique = np.unique(groups)
    held = set(
        rng.choice(unique, size=max(1, int(len(unique) * config.calibration_share)), replace=False).tolist()
    )
    calib = np.fromiter((g in held for g in groups), dtype=bool, count=len(groups))
    if len(np.unique(y[~calib])) < 2 or len(np.unique(y[calib])) < 2:
        calib = np.zeros(len(y), dtype=bool)  # too few requests to hold some out: calibrate in-sample
    fit = ~calib if calib.any() else np.ones(len(y), dtype=bool)
    model = fit_model(x[fit], y[fit], config)
    side = calib if calib.any() else fit
    raw = model.predict_proba(x[side])[:, 1]
    calib_x, calib_y = platt_points(raw, y[side])
    ranker = Ranker(
        model,
        calib_x,
        calib_y,
        threshold_for(config.target_win_loss),
        unseen=unseen,
    )
    p = ranker.probabilities(x[side])
    report = {
        "config": asdict(config),
        "examples": int(len(y)),
        "positives": int(y.sum()),
        "requests": int(len(unique)),
        "calibration_examples": int(side.sum()),
        "calibrated_in_sample": not bool(calib.any()),
        "calibration_auc": float(roc_auc_score(y[side], p)) if len(np.unique(y[side])) > 1 else None,
        "calibration_brier": float(brier_score_loss(y[side], p)),
        "threshold": ranker.threshold,
        "features_never_seen": [FEATURES[c] for c in unseen],
    }
    return ranker, report

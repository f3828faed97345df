"""The online ranker: P(rewriting the request to this candidate is right), calibrated, with abstention.

A gradient-boosted classifier (scikit-learn's HistGradientBoosting: NaN-aware, ~0.1 ms for a request's
candidates) over `features.FEATURES`, trained on weak labels (`training.py`: what users rephrased into after
a defect; nothing for requests that worked), then calibrated by isotonic regression on requests held out of
the fit (split by request, so a request's candidates are on one side). The ranker rewrites only when the
calibrated P of its best candidate clears `threshold`: P >= W / (1 + W) for the target win/loss W (11.8 ->
0.922), since a rewrite that is right with probability P wins P and loses 1 - P; the gold evaluation may
raise it (`evaluation.py`), never lower it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import joblib
import numpy as np

from selflearn_assets.lib.online.features import FEATURES

TARGET_WIN_LOSS = 11.8
# Directions the evidence can only push: the better a request already works (for everyone, for this user),
# the less a rewrite of it can be right; the better a candidate works and the more this user says it, the more.
MONOTONIC = {
    "req_global_success": -1,
    "req_personal_success": -1,
    "cand_global_success": 1,
    "cand_personal_success": 1,
    "affinity": 1,
}


def threshold_for(win_loss: float) -> float:
    return win_loss / (1.0 + win_loss)


@dataclass(frozen=True)
class RankerConfig:
    max_iter: int = 200
    learning_rate: float = 0.08
    max_depth: int = 4
    min_samples_leaf: int = 20
    calibration_share: float = 0.3  # requests held out of the fit for the isotonic calibration
    target_win_loss: float = TARGET_WIN_LOSS
    seed: int = 0


@dataclass
class Ranker:
    model: object
    calib_x: np.ndarray
    calib_y: np.ndarray
    threshold: float
    features: tuple[str, ...] = tuple(FEATURES)
    unseen: tuple[int, ...] = ()  # feature columns that were missing on every training example: read as 0

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0)
        raw = self.model.predict_proba(_fill(x, self.unseen))[:, 1]
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


def _fill(x: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    if not columns:
        return x
    x = x.copy()
    x[:, list(columns)] = 0.0
    return x


def train_ranker(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, config: RankerConfig
) -> tuple[Ranker, dict]:
    """Fit on the requests outside a held-out share, calibrate on that share; report what each saw."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import brier_score_loss, roc_auc_score

    if len(np.unique(y)) < 2:
        raise ValueError(
            f"the ranker needs positive and negative examples; got {int(y.sum())} of {len(y)} positive"
        )
    unseen = tuple(int(c) for c in np.flatnonzero(np.isnan(x).all(axis=0)))
    x = _fill(x, unseen)
    rng = np.random.default_rng(config.seed)
    unique = np.unique(groups)
    held = set(
        rng.choice(unique, size=max(1, int(len(unique) * config.calibration_share)), replace=False).tolist()
    )
    calib = np.fromiter((g in held for g in groups), dtype=bool, count=len(groups))
    if len(np.unique(y[~calib])) < 2 or len(np.unique(y[calib])) < 2:
        calib = np.zeros(len(y), dtype=bool)  # too few requests to hold some out: calibrate in-sample
    fit = ~calib if calib.any() else np.ones(len(y), dtype=bool)
    model = HistGradientBoostingClassifier(
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        max_depth=config.max_depth,
        min_samples_leaf=config.min_samples_leaf,
        monotonic_cst=[MONOTONIC.get(f, 0) for f in FEATURES],
        random_state=config.seed,
    ).fit(x[fit], y[fit])
    side = calib if calib.any() else fit
    raw = model.predict_proba(x[side])[:, 1]
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y[side])
    ranker = Ranker(
        model,
        iso.X_thresholds_.astype(np.float64),
        iso.y_thresholds_.astype(np.float64),
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

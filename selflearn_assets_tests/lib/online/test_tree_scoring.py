"""The ranker's trees scored in numpy (`tree_scoring.CompiledTrees`) against scikit-learn's own prediction.

Fitted models (NaNs, monotonic constraints, shallow and deep trees, 1 and 200 iterations) must score like
`predict_proba` / `decision_function` to 1e-12, tree by tree on rows that sit exactly on a threshold; two
hand-made trees and a one-split model whose leaves follow from the log loss by hand pin the branch and NaN
rules.
"""

from __future__ import annotations

import io
import math
from functools import cache

import joblib
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

from selflearn_assets.lib.online.tree_scoring import CompiledTrees

N_FEATURES = 7
MONOTONIC = [1, 0, -1, 0, 0, 0, 0]
MODELS = {  # name: (max_depth, max_iter)
    "depth3-200": (3, 200),
    "deep-200": (None, 200),
    "deep-1": (None, 1),
    "depth3-1": (3, 1),
}


def _rows(n: int, seed: int) -> np.ndarray:
    """Features like the ranker's: continuous, NaN in columns 1 and 4, and a column of few values (ties)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES))
    x[:, 6] = rng.integers(0, 5, n)
    x[rng.random(n) < 0.25, 1] = np.nan
    x[rng.random(n) < 0.3, 4] = np.nan
    return x


@cache
def _fitted(name: str) -> HistGradientBoostingClassifier:
    max_depth, max_iter = MODELS[name]
    x = _rows(800, seed=1)
    rng = np.random.default_rng(2)
    signal = x[:, 0] - x[:, 2] + np.nan_to_num(x[:, 1], nan=1.0) * x[:, 3] + 0.5 * x[:, 6] - np.isnan(x[:, 4])
    y = (signal + rng.normal(size=len(x)) > 0.5).astype(int)
    return HistGradientBoostingClassifier(
        max_iter=max_iter,
        max_depth=max_depth,  # None: with 31 leaves of >= 2 rows, trees 7..21 deep
        min_samples_leaf=2,
        learning_rate=0.1,
        monotonic_cst=MONOTONIC,
        early_stopping=False,
        random_state=0,
    ).fit(x, y)


def _per_tree(model: HistGradientBoostingClassifier, x: np.ndarray) -> np.ndarray:
    """scikit-learn's own leaf value per (row, tree), from each TreePredictor."""
    known, f_idx = model._bin_mapper.make_known_categories_bitsets()
    return np.column_stack([trees[0].predict(x, known, f_idx, 1) for trees in model._predictors])


def _special_rows() -> np.ndarray:
    """All NaN, all +inf, all -inf; and four rows with one column at a time NaN, +inf or -inf."""
    base = _rows(4, seed=9)
    specials = (np.nan, np.inf, -np.inf)
    alone = [np.full((1, N_FEATURES), v) for v in specials]
    one_column = [np.where(np.arange(N_FEATURES) == j, v, base) for j in range(N_FEATURES) for v in specials]
    return np.vstack(alone + one_column)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_scores_equal_scikit_learn(name):
    model = _fitted(name)
    trees = CompiledTrees.from_model(model)
    x = np.vstack([_rows(500, seed=3), _special_rows()])
    assert trees.n_trees == MODELS[name][1]
    assert np.abs(trees.raw(x) - model.decision_function(x)).max() <= 1e-12
    assert np.abs(trees.raw(x) - model._raw_predict(x)[:, 0]).max() <= 1e-12
    assert np.abs(trees.proba(x) - model.predict_proba(x)[:, 1]).max() <= 1e-12
    assert np.array_equal(trees.leaf_values(x), _per_tree(model, x))
    nodes = np.concatenate([t[0].nodes for t in model._predictors])
    leaf_depths = nodes["depth"][nodes["is_leaf"] == 1]
    assert trees.depth == leaf_depths.max() == (MODELS[name][0] or trees.depth)
    if MODELS[name][0] is None:  # deep, and leaves at unequal depths: the short descents wait at theirs
        assert trees.depth >= 6
        assert leaf_depths.min() < trees.depth


@pytest.mark.parametrize("name", sorted(MODELS))
def test_rows_on_a_threshold_take_scikit_learns_branch(name):
    """For every (feature, threshold) of a split, rows with the feature exactly at the threshold and one float
    either side (thresholds are bin edges, shared by the trees that split there: every tree is compared)."""
    model = _fitted(name)
    trees = CompiledTrees.from_model(model)
    nodes = np.concatenate([t[0].nodes for t in model._predictors])
    splits = nodes[(nodes["is_leaf"] == 0) & np.isfinite(nodes["num_threshold"])]
    feature, threshold = np.unique(
        np.column_stack([splits["feature_idx"], splits["num_threshold"]]), axis=0
    ).T
    assert len(threshold) >= MODELS[name][1] / 2
    base = _rows(len(threshold), seed=4)
    rows = []
    for step in (None, -np.inf, np.inf):
        x = base.copy()
        x[np.arange(len(x)), feature.astype(int)] = (
            threshold if step is None else np.nextafter(threshold, step)
        )
        rows.append(x)
    x = np.vstack(rows)
    assert np.array_equal(trees.leaf_values(x), _per_tree(model, x))
    assert np.abs(trees.proba(x) - model.predict_proba(x)[:, 1]).max() <= 1e-12


def _node(value=0.0, feature=0, threshold=0.0, nan_left=False, left=0, right=0, depth=0, leaf=False):
    node = np.zeros(1, dtype=PREDICTOR_RECORD_DTYPE)
    fields = [
        "value",
        "feature_idx",
        "num_threshold",
        "missing_go_to_left",
        "left",
        "right",
        "depth",
        "is_leaf",
    ]
    node[fields] = (value, feature, threshold, nan_left, left, right, depth, leaf)
    return node


def _hand_model(nan_left_at_root_of_a: bool) -> HistGradientBoostingClassifier:
    """A one-feature model whose trees are replaced by two hand-made ones (scikit-learn's depth-first order).

    a: x <= 2.5 (NaN: left iff nan_left_at_root_of_a) -> -1, else +1.
    b: x <= 1 (NaN right) -> 0.5, else: x <= 4 (NaN left) -> -0.25, else 2.0.    baseline 0.25.
    """
    model = HistGradientBoostingClassifier(max_iter=2, min_samples_leaf=1).fit(
        np.arange(8.0)[:, None], [0, 1] * 4
    )
    no_bitsets = np.zeros((0, 8), dtype=np.uint32)
    a = np.concatenate([
        _node(threshold=2.5, nan_left=nan_left_at_root_of_a, left=1, right=2),
        _node(value=-1.0, depth=1, leaf=True),
        _node(value=1.0, depth=1, leaf=True),
    ])  # fmt: skip
    b = np.concatenate([
        _node(threshold=1.0, nan_left=False, left=1, right=2),
        _node(value=0.5, depth=1, leaf=True),
        _node(threshold=4.0, nan_left=True, left=3, right=4, depth=1),
        _node(value=-0.25, depth=2, leaf=True),
        _node(value=2.0, depth=2, leaf=True),
    ])  # fmt: skip
    model._predictors = [[TreePredictor(t, no_bitsets, no_bitsets)] for t in (a, b)]
    model._baseline_prediction = np.array([[0.25]])
    return model


@pytest.mark.parametrize("nan_left", [True, False])
def test_hand_made_trees(nan_left):
    model = _hand_model(nan_left)
    trees = CompiledTrees.from_model(model)
    above = math.nextafter
    nan_a = -1.0 if nan_left else 1.0
    expected = {  # x: raw = 0.25 + a + b, worked out from the docstring's trees
        0.0: 0.25 - 1 + 0.5,
        1.0: 0.25 - 1 + 0.5,  # on b's threshold: left
        above(1.0, 2): 0.25 - 1 - 0.25,
        2.5: 0.25 - 1 - 0.25,  # on a's threshold: left
        above(2.5, 3): 0.25 + 1 - 0.25,
        4.0: 0.25 + 1 - 0.25,
        5.0: 0.25 + 1 + 2.0,
        np.inf: 0.25 + 1 + 2.0,
        -np.inf: 0.25 - 1 + 0.5,
        np.nan: 0.25 + nan_a - 0.25,  # b: root sends NaN right, its right child sends it left
    }
    x = np.array(list(expected))[:, None]
    want = np.array(list(expected.values()))
    assert trees.depth == 2
    assert trees.raw(x) == pytest.approx(want, abs=1e-15)
    assert trees.proba(x) == pytest.approx(1 / (1 + np.exp(-want)), abs=1e-15)
    assert np.abs(trees.raw(x) - model.decision_function(x)).max() <= 1e-15


def test_trees_that_are_lone_leaves_take_no_step():
    model = _hand_model(True)
    no_bitsets = np.zeros((0, 8), dtype=np.uint32)
    model._predictors = [
        [TreePredictor(_node(value=v, leaf=True), no_bitsets, no_bitsets)] for v in (0.5, -0.2)
    ]
    trees = CompiledTrees.from_model(model)
    x = np.array([[0.0], [np.nan], [9.0]])
    assert trees.depth == 0
    assert trees.leaf_values(x).tolist() == [[0.5, -0.2]] * 3
    assert trees.raw(x) == pytest.approx([0.25 + 0.3] * 3, abs=1e-15)
    assert np.abs(trees.raw(x) - model.decision_function(x)).max() <= 1e-15


def test_one_split_model_whose_leaves_are_worked_out_by_hand():
    """x in {0, 1}, y = x, and 6 NaN rows all positive: one split at the bin midpoint 0.5, NaNs go right.

    With p = 26/46 (the baseline is logit(p)), a leaf's value is -lr * sum(p - y) / sum(p (1 - p)):
    the 20 negatives' leaf -0.1 / (1 - p) = -0.23, the 26 positives' (x = 1 or NaN) 0.1 / p.
    """
    x = np.array([0.0, 1.0] * 20 + [np.nan] * 6)[:, None]
    y = np.array([0, 1] * 20 + [1] * 6)
    model = HistGradientBoostingClassifier(max_iter=1, max_depth=1, min_samples_leaf=1, early_stopping=False)
    trees = CompiledTrees.from_model(model.fit(x, y))
    baseline = math.log(26 / 20)
    low, high = baseline - 0.23, baseline + 0.1 * 46 / 26
    rows = np.array([[0.0], [0.5], [math.nextafter(0.5, 1)], [1.0], [np.nan], [-3.0], [7.0]])
    assert trees.baseline == pytest.approx(baseline, rel=1e-12)
    assert trees.raw(rows) == pytest.approx([low, low, high, high, high, low, high], rel=1e-6)  # float32 sums
    assert np.abs(trees.proba(rows) - model.predict_proba(rows)[:, 1]).max() <= 1e-12


def test_refuses_categorical_and_multiclass_models():
    rng = np.random.default_rng(5)
    x = np.column_stack([rng.integers(0, 4, 300), rng.normal(size=300)])
    y = (x[:, 0] == 2).astype(int)
    categorical = HistGradientBoostingClassifier(max_iter=3, categorical_features=[0]).fit(x, y)
    with pytest.raises(ValueError, match="categorical features \\[0\\]"):
        CompiledTrees.from_model(categorical)
    multiclass = HistGradientBoostingClassifier(max_iter=3).fit(x, x[:, 0].astype(int) % 3)
    with pytest.raises(ValueError, match="more than one predictor per iteration \\(3"):
        CompiledTrees.from_model(multiclass)
    with pytest.raises(ValueError, match="not a fitted"):
        CompiledTrees.from_model(HistGradientBoostingClassifier())


def test_categorical_split_in_a_tree_is_refused():
    model = _hand_model(True)
    nodes = model._predictors[1][0].nodes
    nodes["is_categorical"][2] = 1
    with pytest.raises(ValueError, match="categorical splits in trees \\[1\\]"):
        CompiledTrees.from_model(model)


def test_joblib_round_trip_is_plain_numpy_and_small():
    model = _fitted("depth3-200")
    trees = CompiledTrees.from_model(model)
    saved, fitted = io.BytesIO(), io.BytesIO()
    joblib.dump(trees, saved)
    joblib.dump(model, fitted)
    assert b"sklearn" not in saved.getvalue()
    assert len(saved.getvalue()) < len(fitted.getvalue()) / 2
    loaded = joblib.load(io.BytesIO(saved.getvalue()))
    x = _rows(50, seed=6)
    assert np.array_equal(loaded.raw(x), trees.raw(x))
    assert np.abs(loaded.proba(x) - model.predict_proba(x)[:, 1]).max() <= 1e-12


def test_no_rows_and_wrong_width():
    trees = CompiledTrees.from_model(_fitted("depth3-1"))
    assert trees.proba(np.zeros((0, N_FEATURES))).shape == (0,)
    with pytest.raises(ValueError, match="the trees read 7 features"):
        trees.raw(np.zeros((3, N_FEATURES - 1)))

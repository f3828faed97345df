"""The online ranker's gradient-boosted trees scored in numpy: every tree for every candidate in one descent.

scikit-learn's `HistGradientBoostingClassifier.predict_proba` walks the trees one after another, each a call
into Cython with its own OpenMP region: for a request's ~25 candidates and 200 trees that is ~2 ms, almost all
of it per-tree overhead. `CompiledTrees` holds the same trees as a few flat arrays and descends all of them
for all rows together, one vectorised numpy step per tree level (`bench/tree_scoring.py` measures both).

**Layout.** The nodes of every tree (scikit-learn's `TreePredictor.nodes`) are concatenated, tree t's from
`roots[t]`, each tree's nodes renumbered breadth-first so that a node's two children are neighbours (left,
then right). Per node: `right` (its right child's position in the concatenation; the left child is
`right - 1`), `threshold` (the raw value: `x <= threshold` goes left), `column` (which column of the widened
input the split reads, below) and `value` (a leaf's contribution to the raw score). A leaf is its own right
child with a NaN threshold: no comparison with NaN is true, so a descent that reached a leaf stays there, and
after a fixed `depth` steps (the deepest leaf's depth) every descent has stopped at its leaf whatever its
tree's depth.

**Missing values.** scikit-learn sends a NaN left iff the node's `missing_go_to_left`. The input is widened to
[x, x with NaN read as -inf]: a split whose NaNs go left reads the second copy (-inf <= any threshold), one
whose NaNs go right reads x itself (NaN <= threshold is false). So
`column = feature + n_features * missing_left`, and the descent needs no NaN test. Infinite inputs compare as
in scikit-learn (a "split on NaNs" has threshold +inf: every number, +inf included, goes left).

**Scoring** x (rows x features, float64 as scikit-learn reads it): `node` starts as `roots` for every row
(rows x trees, broadcast); each step moves it to `right[node] - (x[row, column[node]] <= threshold[node])`.
raw = baseline + the sum of the leaves' values (scikit-learn's `_raw_predict` / `decision_function`:
`_baseline_prediction` plus each tree's leaf in turn); P(class `classes_[1]`) = expit(raw), the logit link of
the binary log loss. Both agree with scikit-learn to rounding (the leaves are summed in another order:
~1e-15).

Only what the ranker fits compiles: binary classification over numerical features. `from_model` refuses
(ValueError) a model with categorical features or splits, or with more than one tree per iteration
(multiclass). The compiled form is plain numpy arrays: it pickles with joblib, loads without scikit-learn, and
is a fraction of the fitted model's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CompiledTrees:
    roots: np.ndarray  # int64 (n_trees,): each tree's root in the concatenation
    right: np.ndarray  # int64 (n_nodes,): the right child (the left is right - 1); a leaf's is itself
    threshold: np.ndarray  # float64 (n_nodes,): x <= threshold goes left; NaN at leaves
    column: np.ndarray  # int64 (n_nodes,): feature, + n_features when NaN goes left; 0 at leaves
    value: np.ndarray  # float64 (n_nodes,): a leaf's contribution to the raw score; 0 inside
    depth: int  # steps that reach every leaf: the deepest leaf's depth
    baseline: float  # the raw score before any tree
    n_features: int

    @classmethod
    def from_model(cls, model) -> CompiledTrees:
        """The trees of a fitted binary `HistGradientBoostingClassifier` over numerical features."""
        predictors = getattr(model, "_predictors", None)
        if predictors is None:
            raise ValueError(f"{type(model).__name__} is not a fitted HistGradientBoosting model")
        per_iteration = {len(trees) for trees in predictors} | {int(model.n_trees_per_iteration_)}
        if per_iteration != {1}:
            raise ValueError(
                f"more than one predictor per iteration ({max(per_iteration)}: a multiclass model); "
                "only binary classifiers compile"
            )
        link = type(model._loss.link).__name__
        if link != "LogitLink":
            raise ValueError(f"the model's link is {link}; only the logit link of binary log loss compiles")
        declared = getattr(model, "is_categorical_", None)
        if declared is not None and np.any(declared):
            raise ValueError(
                f"categorical features {np.flatnonzero(declared).tolist()}: only numerical features compile"
            )
        trees = [_sibling_order(t[0].nodes) for t in predictors]
        categorical = [i for i, n in enumerate(trees) if n["is_categorical"][n["is_leaf"] == 0].any()]
        if categorical:
            raise ValueError(f"categorical splits in trees {categorical[:10]}: only numerical splits compile")

        n_features = int(model.n_features_in_)
        baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
        sizes = np.array([len(n) for n in trees], dtype=np.int64)
        roots = np.cumsum(sizes) - sizes
        flat = np.concatenate(trees)
        leaf = flat["is_leaf"].astype(bool)
        right = np.where(leaf, np.arange(len(flat)), flat["right"].astype(np.int64) + np.repeat(roots, sizes))
        missing_left = flat["missing_go_to_left"].astype(bool)
        return cls(
            roots=roots,
            right=right.astype(np.int64),
            threshold=np.where(leaf, np.nan, flat["num_threshold"]).astype(np.float64),
            column=np.where(leaf, 0, flat["feature_idx"] + n_features * missing_left).astype(np.int64),
            value=np.where(leaf, flat["value"], 0.0).astype(np.float64),
            depth=int(flat["depth"][leaf].max()),
            baseline=baseline,
            n_features=n_features,
        )

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def leaf_values(self, x: np.ndarray) -> np.ndarray:
        """(rows, trees): the value of the leaf each row reaches in each tree."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x has shape {x.shape}; the trees read {self.n_features} features")
        if not len(x):
            return np.zeros((0, self.n_trees))
        wide = np.concatenate([x, np.where(np.isnan(x), -np.inf, x)], axis=1).ravel()
        row_start = np.arange(0, wide.size, 2 * self.n_features)[:, None]
        node = self.roots  # (trees,): the first step broadcasts it to (rows, trees)
        for _ in range(self.depth):
            node = self.right[node] - (wide[row_start + self.column[node]] <= self.threshold[node])
        values = self.value[node]
        return values if values.ndim == 2 else np.tile(values, (len(x), 1))  # depth 0: every tree a lone leaf

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The raw score of each row: baseline + the sum of its leaf in every tree."""
        return self.baseline + self.leaf_values(x).sum(axis=1)

    def proba(self, x: np.ndarray) -> np.ndarray:
        """P(class `classes_[1]`) of each row: expit of the raw score."""
        return np.exp(-np.logaddexp(0.0, -self.raw(x)))


def _sibling_order(nodes: np.ndarray) -> np.ndarray:
    """A tree's nodes renumbered breadth-first (root first, each node's children side by side, left first)."""
    order, left, right, is_leaf = [0], nodes["left"], nodes["right"], nodes["is_leaf"]
    for node in order:  # grows while it is read
        if not is_leaf[node]:
            order += [int(left[node]), int(right[node])]
    position = np.empty(len(nodes), dtype=np.int64)
    position[order] = np.arange(len(order))
    renumbered = nodes[order].copy()
    renumbered["left"] = np.where(renumbered["is_leaf"], 0, position[renumbered["left"]])
    renumbered["right"] = np.where(renumbered["is_leaf"], 0, position[renumbered["right"]])
    return renumbered

"""Turn labels from a trained label model, and their evaluation against gold next to a single annotator's.

"% of human" (DESIGN.md): the model's accuracy against gold divided by the single annotator's, on the same
turns (those that have both a gold and an annotator label for the task). `scores_by_source` gives the model,
the annotator and the baseline the same metric names (their MLflow runs are compared side by side);
`evaluate_against_gold` is the flat, prefixed view of the model's run.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from sklearn.metrics import confusion_matrix, f1_score

from selflearn_assets.lib.models.label_crowd import CrowdDay
from selflearn_assets.lib.models.label_data import SLOTS_TYPE
from selflearn_assets.lib.models.label_features import encode
from selflearn_assets.lib.models.label_model import LabelModel, probabilities
from selflearn_assets.lib.models.label_slots import choose_slots, normalise

TASKS = ("goal_start", "goal_success", "intent", "slots")


def _probabilities(model: LabelModel, frames: pl.DataFrame, embedder, crowd: CrowdDay | None = None) -> dict:
    """Per-row probabilities of every turn of `frames` (label_model.probabilities), with the slot candidates
    themselves under `candidates`."""
    data = encode(frames, model.spec, embedder, contextual=model.config.contextual, crowd=crowd)
    return probabilities(model, data, data.sessions) | {"candidates": data.candidates}


def predict_turn_labels(
    model: LabelModel,
    frames: pl.DataFrame,
    embedder,
    threshold: float = 0.5,
    slot_threshold: float | None = None,
    crowd: CrowdDay | None = None,
) -> pl.DataFrame:
    """One row per turn of `frames`: event_id, session_id, goal_id (1-based counter within the session, from
    goal_start; the first turn of a session always starts a goal), goal_start, goal_success, intent, slots, and
    a confidence per label (probability of the chosen answer; for slots, the least confident decision over
    the turn's slot candidates). Binary labels are decided at `threshold`, slots at `slot_threshold` (default:
    the model's `slot_threshold`, tuned on validation sessions). `crowd`: the crowd evidence of the day that
    `frames` are whole sessions of (`label_features.crowd_day`; default: that of `frames`)."""
    p = _probabilities(model, frames, embedder, crowd)
    spec = model.spec
    intent_idx = p["intent"].argmax(axis=1)
    if slot_threshold is None:  # the threshold tuned on validation sessions at training time
        slot_threshold = getattr(model, "slot_threshold", 0.5)
    slots, slot_conf = choose_slots(p["candidates"], p["slots"], frames.height, slot_threshold)
    first = frames["turn_index"].to_numpy() == 0
    goal_start = (p["goal_start"] >= threshold) | first
    labels = pl.DataFrame(
        {
            "event_id": frames["event_id"],
            "session_id": frames["session_id"],
            "goal_start": goal_start,
            "goal_start_confidence": np.where(first, 1.0, np.maximum(p["goal_start"], 1 - p["goal_start"])),
            "goal_success": p["goal_success"] >= threshold,
            "goal_success_confidence": np.maximum(p["goal_success"], 1 - p["goal_success"]),
            "intent": pl.Series(spec.intents, dtype=pl.String).gather(intent_idx),
            "intent_confidence": p["intent"].max(axis=1),
            "slots": _slots_column(slots),
            "slots_confidence": slot_conf,
        }
    )
    goal_id = pl.col("goal_start").cast(pl.Int32).cum_sum().over("session_id")
    confidences = [c for c in labels.columns if c.endswith("_confidence")]
    labels = labels.with_columns(pl.col(confidences).cast(pl.Float64), goal_id=goal_id)
    first_columns = ["event_id", "session_id", "goal_id"]
    return labels.select(first_columns + [c for c in labels.columns if c not in first_columns])


def _slots_column(slots: list[list[dict]]) -> pl.Series:
    """The chosen slots as a list-of-struct column, built from flat columns (a Series of nested Python dicts
    costs a Python object conversion per slot)."""
    names = [s["name"] for row in slots for s in row]
    values = [s["value"] for row in slots for s in row]
    offsets = np.zeros(len(slots) + 1, np.int32)
    np.cumsum([len(row) for row in slots], out=offsets[1:])
    flat = pa.StructArray.from_arrays(
        [pa.array(names, pa.string()), pa.array(values, pa.string())], names=["name", "value"]
    )
    return pl.Series("slots", pa.ListArray.from_arrays(pa.array(offsets), flat)).cast(SLOTS_TYPE)


def slot_set(slots) -> frozenset:
    """A turn's slots as a set of (name, normalised value): how slots are compared everywhere (exact set)."""
    return frozenset((s["name"], normalise(s["value"])) for s in slots or [])


def _scores(task: str, truth: list, guess: list) -> dict[str, float]:
    """accuracy and F1: binary F1 for the goal tasks, macro F1 over classes for intent, micro F1 over
    (name, value) pairs for slots (accuracy = exact match of the slot set)."""
    if task == "slots":
        t, g = [slot_set(x) for x in truth], [slot_set(x) for x in guess]
        hits = sum(len(a & b) for a, b in zip(t, g, strict=True))
        n_true, n_guess = sum(map(len, t)), sum(map(len, g))
        f1 = 2 * hits / (n_true + n_guess) if n_true + n_guess else 1.0
        return {"accuracy": float(np.mean([a == b for a, b in zip(t, g, strict=True)])), "f1": f1}
    accuracy = float(np.mean([a == b for a, b in zip(truth, guess, strict=True)]))
    if task == "intent":
        return {"accuracy": accuracy, "f1": float(f1_score(truth, guess, average="macro", zero_division=0))}
    return {"accuracy": accuracy, "f1": float(f1_score(truth, guess, zero_division=0))}


def scores_by_source(
    model: LabelModel, frames: pl.DataFrame, embedder, baseline: LabelModel | None = None
) -> dict[str, dict[str, float]]:
    """Per source of labels, "model", "annotator" (the single annotator) and with `baseline` "baseline", the
    same metric names against gold on the same turns (per task, those with both a gold and an annotator
    label): `<task>_accuracy`, `<task>_f1`, `<task>_n`, `<task>_pct_of_human` (its accuracy / the
    annotator's), `macro_accuracy` (mean accuracy over the tasks) and `pct_of_human` (that mean / the
    annotator's). The model's MLflow run and its baselines' child runs log these names."""
    joined = frames.join(predict_turn_labels(model, frames, embedder), on="event_id", suffix="_pred")
    sources = ["model", "annotator"]
    if baseline is not None:
        base = predict_turn_labels(baseline, frames, embedder).select("event_id", *TASKS)
        joined = joined.join(base.rename({t: f"{t}_baseline_pred" for t in TASKS}), on="event_id", how="left")
        sources.append("baseline")
    out: dict[str, dict[str, float]] = {who: {} for who in sources}
    accuracies: dict[str, list[float]] = {who: [] for who in sources}
    for task in TASKS:
        rows = joined.filter(pl.col(f"gold_{task}").is_not_null() & pl.col(f"ann_{task}").is_not_null())
        for who in sources:
            out[who][f"{task}_n"] = float(rows.height)
        if rows.height == 0:
            continue
        gold = rows[f"gold_{task}"].to_list()
        columns = {
            "model": f"{task}_pred" if f"{task}_pred" in rows.columns else task,
            "annotator": f"ann_{task}",
            "baseline": f"{task}_baseline_pred",
        }
        for who in sources:
            for name, value in _scores(task, gold, rows[columns[who]].to_list()).items():
                out[who][f"{task}_{name}"] = value
            accuracies[who].append(out[who][f"{task}_accuracy"])
        human = out["annotator"][f"{task}_accuracy"]
        if human > 0:
            for who in sources:
                out[who][f"{task}_pct_of_human"] = out[who][f"{task}_accuracy"] / human
    if accuracies["annotator"] and np.mean(accuracies["annotator"]) > 0:
        for who in sources:
            out[who]["macro_accuracy"] = float(np.mean(accuracies[who]))
            out[who]["pct_of_human"] = float(np.mean(accuracies[who]) / np.mean(accuracies["annotator"]))
    return out


def evaluate_against_gold(
    model: LabelModel, frames: pl.DataFrame, embedder, baseline: LabelModel | None = None
) -> dict[str, float]:
    """Per task: the model's and the single annotator's accuracy and F1 against gold on the same turns
    (`<task>_model_accuracy`, `<task>_annotator_f1`, ...), their ratio (`<task>_pct_of_human`), and the
    baseline's intent and slot accuracy on those turns (`<task>_baseline_accuracy`); `macro_accuracy` and
    `pct_of_human` of the model. The flat names of `scores_by_source`, which has them per source."""
    return prefixed_metrics(scores_by_source(model, frames, embedder, baseline))


def prefixed_metrics(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """The metrics of `evaluate_against_gold` from those of `scores_by_source`."""
    metrics: dict[str, float] = {}
    for task in TASKS:
        metrics[f"{task}_n"] = scores["model"][f"{task}_n"]
        for who in ("model", "annotator"):
            for name in ("accuracy", "f1"):
                if f"{task}_{name}" in scores[who]:
                    metrics[f"{task}_{who}_{name}"] = scores[who][f"{task}_{name}"]
        if f"{task}_pct_of_human" in scores["model"]:
            metrics[f"{task}_pct_of_human"] = scores["model"][f"{task}_pct_of_human"]
        if "baseline" in scores and task in ("intent", "slots") and f"{task}_accuracy" in scores["baseline"]:
            metrics[f"{task}_baseline_accuracy"] = scores["baseline"][f"{task}_accuracy"]
    for name in ("macro_accuracy", "pct_of_human"):
        if name in scores["model"]:
            metrics[name] = scores["model"][name]
    return metrics


def intent_confusion(frames: pl.DataFrame, labels: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """(class names, matrix rows = gold, columns = predicted) over turns with a gold intent."""
    rows = frames.select("event_id", "gold_intent").join(labels.select("event_id", "intent"), on="event_id")
    rows = rows.filter(pl.col("gold_intent").is_not_null())
    names = sorted(set(rows["gold_intent"]) | set(rows["intent"]))
    return names, confusion_matrix(rows["gold_intent"], rows["intent"], labels=names)

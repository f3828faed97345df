"""MLflow helpers for model training, without Dagster: runs, metrics, figures, models, champion promotion.

The store lives under `<home>/mlflow/`: a SQLite database (the model registry needs a database backend)
and an artifact folder; or, with $SELFLEARN_MLFLOW_TRACKING_URI, on a tracking server (its database, e.g.
PostgreSQL, is the server's) with artifacts where $SELFLEARN_MLFLOW_ARTIFACTS or the server says. A model version is promoted to the registry alias `champion` only when its
evaluation metric, stored as a version tag, beats the current champion's on the same evaluation set.
Each training module (`label_training`, `failure_point_training`, `rephrase_training`) ends its run with
`rescore_champion` and `register_run_model`. A registered version carries its run's `dagster.*` tags (set by
the Dagster asset that trained it: `defs/metadata.mlflow_run_tags`), and with `dagster.asset_url` among them
its description links back to that asset's page in the Dagster UI.

What a scientist sees in the MLflow UI: one experiment per model, described (`mlflow.note.content`); a run per
training named "<model> <first day>..<last day>" (`run_name`) holding the model's metrics, and under it a
child run per baseline or reference (`log_child_run`: "<model> baseline: non-contextual", ...) that logs the
same metric names, so selecting the model's run and a child and pressing Compare puts them side by side.
Runs carry their training and evaluation turns as MLflow datasets (`turn_dataset`: ids, counts and a digest,
never the texts; source: the warehouse tables, `WarehouseSource`); logged models carry a tensor signature
(`torch_signature`); confusion matrices are row-normalised with the counts in the cells (`confusion_figure`).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import polars as pl
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import register_dataset_source
from mlflow.data.polars_dataset import PolarsDataset
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import Schema, TensorSpec

from selflearn_assets.lib.settings import load_settings

CHAMPION = "champion"
METRIC_TAG = "eval.metric"  # name of the promotion metric
VALUE_TAG = "eval.value"  # its value on the evaluation set
EVAL_SET_TAG = "eval.set"  # which evaluation set it was measured on
NOTE_TAG = "mlflow.note.content"  # the description the MLflow UI shows on experiments and runs
BASELINE_TAG = "baseline"  # on a child run: which baseline or reference it holds (e.g. "non-contextual")


def mlflow_tracking_uri(home: str | Path) -> str:
    """The tracking (and registry) URI: $SELFLEARN_MLFLOW_TRACKING_URI when set (an MLflow server,
    `http://mlflow:5000`, or a database MLflow opens itself, `postgresql://...`), else the sqlite URI of
    `<home>/mlflow/mlflow.db`, creating the folder and the artifact root beside it."""
    remote = load_settings().mlflow_tracking_uri
    if remote:
        return remote
    root = Path(home).resolve() / "mlflow"
    (root / "artifacts").mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def store_exists(home: str | Path) -> bool:
    """Whether there is a tracking store to look in (for a champion, or runs to fail) without creating one: a
    configured tracking URI, or `<home>/mlflow/mlflow.db`."""
    return bool(load_settings().mlflow_tracking_uri) or (Path(home) / "mlflow" / "mlflow.db").is_file()


def artifact_root(home: str | Path) -> str | None:
    """Where experiments the platform creates keep their artifacts: $SELFLEARN_MLFLOW_ARTIFACTS (e.g.
    `s3://bucket/selflearn/mlflow`); else, on the local store, `<home>/mlflow/artifacts`, and with a tracking
    server, None (the server's own default artifact root)."""
    settings = load_settings()
    if settings.mlflow_artifacts:
        return settings.mlflow_artifacts
    return None if settings.mlflow_tracking_uri else str(Path(home).resolve() / "mlflow" / "artifacts")


def configure(home: str | Path, experiment: str | None = None, description: str | None = None) -> str:
    """Point MLflow at the platform's store (`mlflow_tracking_uri`: `<home>/mlflow/` unless a tracking URI is
    configured; artifacts where `artifact_root` says); returns the tracking URI. `description`: the
    experiment's description (see `ensure_experiment`)."""
    uri = mlflow_tracking_uri(home)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if experiment:
        ensure_experiment(experiment, artifact_root(home), description)
    return uri


def ensure_experiment(
    name: str, artifact_root: str | Path | None = None, description: str | None = None
) -> str:
    """Id of experiment `name`, created (with its artifacts under `artifact_root/<name>`) when missing;
    `description` becomes its `mlflow.note.content` (the text the MLflow UI shows above its runs), replacing
    an older one."""
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        experiment_id = found.experiment_id
        if description and found.tags.get(NOTE_TAG) != description:
            client.set_experiment_tag(experiment_id, NOTE_TAG, description)
        return experiment_id
    uri = mlflow.get_tracking_uri()
    if artifact_root is None and uri.startswith("sqlite:///") and uri.endswith("/mlflow.db"):
        artifact_root = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"  # ours, from configure()
    if artifact_root is None:
        location = None
    elif "://" in str(artifact_root):  # an object store or another URL: the experiment's folder under it
        location = f"{str(artifact_root).rstrip('/')}/{name}"
    else:
        location = (Path(artifact_root) / name).as_uri()
    tags = {NOTE_TAG: description} if description else None
    return client.create_experiment(name, artifact_location=location, tags=tags)


def day_window(days: Iterable[date | str]) -> str:
    """The window of `days` (ISO dates) as "<first day>..<last day>"."""
    days = sorted(str(d) for d in days)
    return f"{days[0]}..{days[-1]}"


def run_name(model: str, days: Iterable[date | str]) -> str:
    """A training run's name in the MLflow UI: "<model> <first day>..<last day>" (e.g. "label-model
    2026-11-01..2026-11-03")."""
    return f"{model} {day_window(days)}"


@contextmanager
def start_run(
    experiment: str,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    description: str | None = None,
    datasets: Mapping[str, Any] | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run in `experiment` (created when missing) with `tags`, `params` and `datasets` ({context:
    dataset}, `split_datasets`) logged up front, and `description` as its note in the UI.

    Call `configure(home)` first so the experiment's artifacts land in the project's store.
    """
    experiment_id = ensure_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, description=description) as run:
        if tags:
            mlflow.set_tags({k: str(v) for k, v in tags.items()})
        if params:
            mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        log_datasets(datasets or {})
        yield run


def log_child_run(
    name: str,
    metrics: Mapping[str, float],
    *,
    baseline: str,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    description: str | None = None,
    history: list[Mapping[str, float]] | None = None,
    datasets: Mapping[str, Any] | None = None,
) -> str:
    """One baseline or reference of the active (model) run as its child run (`nested=True`: the MLflow UI
    lists it under the model's run, and Compare shows both): run name `name`, tag `baseline` = `baseline`,
    the parent's `tags` (so crash recovery and searches by Dagster run find it too), `params`, `metrics`
    under the model run's names, per-epoch `history` (`log_epoch_metrics`), and `datasets` as
    {context: dataset} (`turn_dataset`). Returns its run id."""
    parent = mlflow.active_run()
    if parent is None:
        raise RuntimeError("log_child_run needs an active (parent) run")
    with mlflow.start_run(
        experiment_id=parent.info.experiment_id, run_name=name, nested=True, description=description
    ) as child:
        mlflow.set_tags({**{k: str(v) for k, v in (tags or {}).items()}, BASELINE_TAG: baseline})
        if params:
            mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        log_datasets(datasets or {})
        if history:
            log_epoch_metrics(history)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    return child.info.run_id


def log_epoch_metrics(history: list[Mapping[str, float]]) -> None:
    """One step per epoch: each entry of `history` is {metric: value}, logged at step = its index."""
    for epoch, metrics in enumerate(history):
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=epoch)


# Datasets: which turns a run trained and was evaluated on, without their texts.


class WarehouseSource(DatasetSource):
    """Where a run's turns come from: `tables` of the DuckDB warehouse at `warehouse` (a path), read by
    `query` (the SQL file or loader), for the days `days` ("<first>..<last>"). Metadata only: `load` does not
    read the warehouse (the Dagster asset does, through its loader)."""

    def __init__(self, warehouse: str, tables: Sequence[str], query: str, days: str) -> None:
        self.warehouse, self.tables, self.query, self.days = str(warehouse), list(tables), query, days

    @staticmethod
    def _get_source_type() -> str:
        return "selflearn_warehouse"

    def load(self) -> Any:
        raise NotImplementedError(f"read {', '.join(self.tables)} of {self.days} with {self.query}")

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False  # built explicitly, never guessed from a string

    @classmethod
    def _resolve(cls, raw_source: Any) -> WarehouseSource:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"warehouse": self.warehouse, "tables": self.tables, "query": self.query, "days": self.days}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> WarehouseSource:
        return cls(source_dict["warehouse"], source_dict["tables"], source_dict["query"], source_dict["days"])


register_dataset_source(WarehouseSource)  # so mlflow.data.get_source() reads it back


class TurnDataset(PolarsDataset):
    """A PolarsDataset of turn ids (day, session_id, event_id, gold) whose profile also counts sessions,
    gold turns and days: what the MLflow UI shows of a logged dataset (name, digest, source, schema, profile;
    never the rows)."""

    @property
    def profile(self) -> dict[str, Any]:
        df = self.df
        days = sorted(set(df["day"].to_list()))
        return {
            **super().profile,
            "turns": df.height,
            "sessions": df["session_id"].n_unique(),
            "gold_turns": int(df["gold"].sum()),
            "days": len(days),
            "window": f"{days[0]}..{days[-1]}" if days else "",
        }


def turn_ids_digest(event_ids: Iterable[str]) -> str:
    """16 hex digits of the sha256 of the sorted, distinct event ids: the same set of turns, the same digest."""
    return hashlib.sha256("\n".join(sorted(set(event_ids))).encode()).hexdigest()[:16]


def split_datasets(
    home: str | Path, prefix: str, loader: str, gold: pl.Expr, all_turns: pl.DataFrame, **splits: pl.DataFrame
) -> dict[str, TurnDataset]:
    """{context: dataset} for each split (`training=...`, `evaluation=...`) of `all_turns`, read from the
    warehouse under `home` by `loader` (the SQL file or function): the datasets a training run logs
    (`log_datasets`), named "<prefix> <context> <window>"."""
    window = day_window(all_turns["day"].unique())
    source = WarehouseSource(
        Path(home).resolve() / "warehouse.duckdb", ["ingest.clean_turns", "ingest.turn_annotations"], loader, window
    )
    return {
        context: turn_dataset(turns, f"{prefix} {context} {window}", source, gold) for context, turns in splits.items()
    }


def turn_dataset(turns: pl.DataFrame, name: str, source: WarehouseSource, gold: pl.Expr) -> TurnDataset:
    """The turns of a split as an MLflow dataset: only their ids (day, session_id, event_id) and `gold`
    (a boolean expression over `turns`: the turn is gold-annotated) go into it, and the digest is
    `turn_ids_digest` of the event ids."""
    ids = turns.select(
        day=pl.col("day").cast(pl.String),
        session_id=pl.col("session_id").cast(pl.String),
        event_id=pl.col("event_id").cast(pl.String),
        gold=gold.fill_null(False),
    )
    return TurnDataset(ids, source=source, name=name, digest=turn_ids_digest(ids["event_id"]))


def log_datasets(datasets: Mapping[str, Any]) -> None:
    """Log {context: dataset} as the active run's inputs (contexts "training", "evaluation")."""
    for context, dataset in datasets.items():
        mlflow.log_input(dataset, context=context)


# Figures


def log_figure_png(figure, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG artifact (e.g. "figures/confusion_intent.png") and close it."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(figure, artifact_file)
    plt.close(figure)


def normalised_confusion(matrix) -> np.ndarray:
    """Each row of a confusion matrix (rows = gold, columns = predicted) divided by its total: the share of
    a gold class's turns predicted as each class (the diagonal is its recall). A row without gold turns
    stays 0."""
    counts = np.asarray(matrix, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def confused_classes(matrix, top_n: int | None = None) -> list[int]:
    """Indexes (in order) of the classes involved in an error: a gold class with a turn predicted as
    another, or a class predicted for another's turn. With `top_n`, at most the `top_n` with the most such
    errors (ties: more gold turns first). No error at all: every class (at most `top_n`, by gold turns)."""
    counts = np.asarray(matrix, dtype=np.int64)
    off = counts - np.diag(np.diag(counts))
    errors = off.sum(axis=1) + off.sum(axis=0)
    support = counts.sum(axis=1)
    chosen = [i for i in range(len(counts)) if errors[i] > 0] or list(range(len(counts)))
    if top_n is not None and len(chosen) > top_n:
        chosen = sorted(chosen, key=lambda i: (-errors[i], -support[i], i))[:top_n]
    return sorted(chosen)


def confusion_figure(labels: list[str], matrix, title: str, top_n: int | None = None):
    """A confusion matrix (rows = gold, columns = predicted) as a matplotlib figure (Agg backend): colour =
    share of the gold class (`normalised_confusion`, on the full rows), the count in each cell, a colour bar.
    With `top_n` (for many classes), only the classes involved in errors, at most `top_n`
    (`confused_classes`), so the labels stay legible; the title says how many of how many are shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(matrix, dtype=np.int64)
    shares = normalised_confusion(counts)
    if top_n is not None:
        keep = confused_classes(counts, top_n)
        if len(keep) < len(confused_classes(counts)):
            title = f"{title} ({len(keep)} of {len(labels)} classes: the most confused)"
        elif len(keep) < len(labels):
            title = f"{title} ({len(keep)} of {len(labels)} classes: those with errors)"
        labels = [labels[i] for i in keep]
        counts, shares = counts[np.ix_(keep, keep)], shares[np.ix_(keep, keep)]
    n = len(labels)
    size = max(4.5, 0.45 * n + 2.0)
    fontsize = 9 if n <= 20 else 6
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                colour = "white" if shares[i, j] > 0.5 else "black"
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=fontsize, color=colour)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), labels, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold class's turns")
    fig.tight_layout()
    return fig


def pr_curve_figure(y_true, y_score, title: str):
    """Precision-recall curve of a binary score as a matplotlib figure (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y_true, y_score)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(recall, precision)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def torch_signature(
    inputs: Mapping[str, Any], outputs: Mapping[str, Any], variable_dims: Callable[[str], int] | int = 1
) -> ModelSignature:
    """The signature of a torch module from one real call: named tensors in (`inputs`, what `forward`
    reads) and out, each a TensorSpec of its dtype and shape with its leading `variable_dims(name)` dims
    (batch, sequence, candidates...) as -1."""

    def spec(name: str, value) -> TensorSpec:
        array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        variable = variable_dims(name) if callable(variable_dims) else variable_dims
        shape = tuple(-1 if i < variable else d for i, d in enumerate(array.shape))
        return TensorSpec(array.dtype, shape, name)

    return ModelSignature(
        inputs=Schema([spec(k, v) for k, v in inputs.items()]),
        outputs=Schema([spec(k, v) for k, v in outputs.items()]),
    )


class RecordingBatch(dict):
    """A batch dict that records which keys a model's `forward` reads (`read`, in order): the inputs of its
    signature."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read: list[str] = []

    def __getitem__(self, key):
        if key not in self.read:
            self.read.append(key)
        return super().__getitem__(key)


def log_torch_model(
    model, name: str = "model", extra_files: list[str] | None = None, signature: ModelSignature | None = None
):
    """Log a torch module with the pickle serialization (MLflow 3 defaults to `pt2` export, which does not
    trace models with Python-side control flow such as padding masks) and `signature` (`torch_signature`).
    Returns the ModelInfo."""
    import torch

    pytorch_logger = logging.getLogger("mlflow.pytorch")
    pytorch_logger.addFilter(_PICKLE_NOTICE)
    try:
        return mlflow.pytorch.log_model(
            model,
            name=name,
            serialization_format="pickle",
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],  # skips slow requirement inference
            extra_files=extra_files,
            signature=signature,
        )
    finally:
        pytorch_logger.removeFilter(_PICKLE_NOTICE)


class _PickleNotice(logging.Filter):
    """Drops MLflow's notice that pickled models execute code when loaded, on every model we log: the pickle
    format is chosen on purpose (above) and the models are loaded only from the platform's own store. Any
    other warning of `mlflow.pytorch` passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Pickle or CloudPickle format" not in record.getMessage()


_PICKLE_NOTICE = _PickleNotice()


def champion_uri(model_name: str) -> str:
    """`models:/<name>@champion`: loadable with mlflow.pytorch.load_model once a champion exists."""
    return f"models:/{model_name}@{CHAMPION}"


def load_champion(model_name: str):
    """The torch model registered as `model_name`'s champion (raises MlflowException when there is none)."""
    import mlflow.pytorch

    with tempfile.TemporaryDirectory() as tmp:
        return mlflow.pytorch.load_model(champion_uri(model_name), dst_path=tmp)


def champion_version(model_name: str):
    """The ModelVersion that `model_name`'s `champion` alias points at (raises MlflowException when none)."""
    return MlflowClient().get_model_version_by_alias(model_name, CHAMPION)


def rescore_champion(model_name: str, score: Callable[[Any], float | None]) -> float | None:
    """The current champion of `model_name`, loaded and re-scored by `score(champion)` (the caller's metric on
    this run's evaluation set).

    None when there is no champion, or it cannot be loaded, or it no longer fits (features or encoder changed
    since it was trained: `score` raises or returns None); the new model may then take over.
    """
    try:
        champion = load_champion(model_name)
    except Exception:  # no champion yet, or one that no longer unpickles
        return None
    try:
        return score(champion)
    except Exception:  # a champion whose features no longer fit the data
        return None


def champion_metric(model_name: str, metric_name: str) -> float | None:
    """The current champion's promotion metric, or None when there is no champion (or it lacks the metric)."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    if version.tags.get(METRIC_TAG) != metric_name or VALUE_TAG not in version.tags:
        return None
    return float(version.tags[VALUE_TAG])


def register_and_maybe_promote(
    model_name: str,
    run_id: str,
    metric_name: str,
    value: float,
    higher_is_better: bool = True,
    artifact_path: str = "model",
    eval_set: str = "",
    model_uri: str | None = None,
    champion_value: float | None = None,
) -> tuple[str, bool, float | None]:
    """Register `model_uri` (default `runs:/<run_id>/<artifact_path>`; MLflow 3 resolves it to the run's
    logged model) as a new version of `model_name` with its evaluation metric
    as version tags; move `champion` to it only if it beats the current champion's value of the same metric.

    `champion_value`: the champion re-scored by the caller on this same evaluation set (preferred when the
    set changed since the champion was registered); by default the value stored on the champion.
    Returns (version, promoted, previous champion value or None).
    """
    client = MlflowClient()
    previous = champion_value if champion_value is not None else champion_metric(model_name, metric_name)
    mv = mlflow.register_model(model_uri or f"runs:/{run_id}/{artifact_path}", model_name)
    client.set_model_version_tag(model_name, mv.version, METRIC_TAG, metric_name)
    client.set_model_version_tag(model_name, mv.version, VALUE_TAG, repr(float(value)))
    client.set_model_version_tag(model_name, mv.version, EVAL_SET_TAG, eval_set)
    beats = previous is None or (value > previous if higher_is_better else value < previous)
    if beats:
        client.set_registered_model_alias(model_name, CHAMPION, mv.version)
    client.set_model_version_tag(model_name, mv.version, "promoted", str(beats).lower())
    return str(mv.version), beats, previous


def register_run_model(
    run: mlflow.ActiveRun,
    model_name: str,
    metric_name: str,
    value: float,
    eval_set: str,
    *,
    champion_value: float | None,
    model_description: str | None = None,
    model_uri: str | None = None,
) -> dict[str, Any]:
    """The end of a training run: register the model logged in `run` (`log_torch_model`; pass its ModelInfo's
    `model_uri`, `models:/m-…`, so MLflow 3 does not look for it under the run's artifacts) as a new version of
    `model_name` and promote it when `value` beats `champion_value` (the champion re-scored by
    `rescore_champion`; see `register_and_maybe_promote` for None), link the version to the Dagster asset
    that trained it (`link_version_to_dagster`, from the run's tags), set the registered model's description
    to `model_description` when given, then tag the run with `registered_version` and `promoted`. Returns the
    run's summary: run_id, experiment_id, version, promoted, previous_champion and eval_set."""
    version, promoted, previous = register_and_maybe_promote(
        model_name, run.info.run_id, metric_name, value, eval_set=eval_set, champion_value=champion_value,
        model_uri=model_uri,
    )
    link_version_to_dagster(model_name, version, MlflowClient().get_run(run.info.run_id).data.tags)
    if model_description:
        MlflowClient().update_registered_model(model_name, description=model_description)
    mlflow.set_tags({"registered_version": version, "promoted": str(promoted).lower()})
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "version": version,
        "promoted": promoted,
        "previous_champion": previous,
        "eval_set": eval_set,
    }


def link_version_to_dagster(model_name: str, version: str, run_tags: Mapping[str, str]) -> None:
    """Copy the `dagster.*` tags of the version's run onto the version; when they hold `dagster.asset_url`,
    set the version's description to a link to that asset (and to the Dagster run, with `dagster.run_url`)."""
    client = MlflowClient()
    dagster_tags = {k: v for k, v in run_tags.items() if k.startswith("dagster.")}
    for key, value in dagster_tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    asset_url = dagster_tags.get("dagster.asset_url")
    if not asset_url:
        return
    description = f"Trained by the Dagster asset [{dagster_tags.get('dagster.asset', asset_url)}]({asset_url})"
    run_url = dagster_tags.get("dagster.run_url")
    if run_url:
        description += f", run [{dagster_tags.get('dagster.run_id', '')[:8] or 'link'}]({run_url})"
    client.update_model_version(model_name, version, description=description + ".")


# Crash recovery: the MLflow runs a killed Dagster run left RUNNING.


def fail_running_runs(home: str | Path, tag: str, value: str) -> list[str]:
    """Mark FAILED every MLflow run of `<home>/mlflow/` still RUNNING with tag `tag` = `value` (e.g. the
    `dagster.run_id` of a Dagster run whose process was killed); returns their run ids. Touches nothing when
    the store does not exist yet."""
    if not (Path(home).resolve() / "mlflow" / "mlflow.db").is_file():
        return []
    client = MlflowClient(tracking_uri=mlflow_tracking_uri(home))
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    if not experiment_ids:
        return []
    quoted = value.replace("'", "\\'")
    runs = client.search_runs(
        experiment_ids, filter_string=f"tags.`{tag}` = '{quoted}' and attributes.status = 'RUNNING'"
    )
    for run in runs:
        client.set_terminated(run.info.run_id, status="FAILED")
    return [run.info.run_id for run in runs]

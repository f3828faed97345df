"""MLflow helpers for model training, without Dagster: runs, metrics, figures, models, champion promotion.

The store lives under `<home>/mlflow/`: a SQLite database (the model registry needs a database backend)
and an artifact folder. A model version is promoted to the registry alias `champion` only when its
evaluation metric, stored as a version tag, beats the current champion's on the same evaluation set.
Each training module (`label_training`, `failure_point_training`, `rephrase_training`) ends its run with
`rescore_champion` and `register_run_model`. A registered version carries its run's `dagster.*` tags (set by
the Dagster asset that trained it: `defs/metadata.mlflow_run_tags`), and with `dagster.asset_url` among them
its description links back to that asset's page in the Dagster UI.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

CHAMPION = "champion"
METRIC_TAG = "eval.metric"  # name of the promotion metric
VALUE_TAG = "eval.value"  # its value on the evaluation set
EVAL_SET_TAG = "eval.set"  # which evaluation set it was measured on


def mlflow_tracking_uri(home: str | Path) -> str:
    """sqlite URI of `<home>/mlflow/mlflow.db`; creates the folder and the artifact root beside it."""
    root = Path(home).resolve() / "mlflow"
    (root / "artifacts").mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def configure(home: str | Path, experiment: str | None = None) -> str:
    """Point MLflow at `<home>/mlflow/` (artifacts in `<home>/mlflow/artifacts`); returns the tracking URI."""
    uri = mlflow_tracking_uri(home)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if experiment:
        ensure_experiment(experiment, Path(home).resolve() / "mlflow" / "artifacts")
    return uri


def ensure_experiment(name: str, artifact_root: str | Path | None = None) -> str:
    """Id of experiment `name`, created (with its artifacts under `artifact_root/<name>`) when missing."""
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = mlflow.get_tracking_uri()
    if artifact_root is None and uri.startswith("sqlite:///") and uri.endswith("/mlflow.db"):
        artifact_root = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"  # ours, from configure()
    location = (Path(artifact_root) / name).as_uri() if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


@contextmanager
def start_run(
    experiment: str,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    run_name: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run in `experiment` (created when missing) with `tags` and `params` logged up front.

    Call `configure(home)` first so the experiment's artifacts land in the project's store.
    """
    experiment_id = ensure_experiment(experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        if tags:
            mlflow.set_tags({k: str(v) for k, v in tags.items()})
        if params:
            mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        yield run


def log_epoch_metrics(history: list[Mapping[str, float]]) -> None:
    """One step per epoch: each entry of `history` is {metric: value}, logged at step = its index."""
    for epoch, metrics in enumerate(history):
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=epoch)


def log_figure_png(figure, artifact_file: str) -> None:
    """Log a matplotlib figure as a PNG artifact (e.g. "figures/confusion_intent.png") and close it."""
    import matplotlib.pyplot as plt

    mlflow.log_figure(figure, artifact_file)
    plt.close(figure)


def confusion_figure(labels: list[str], matrix, title: str):
    """A confusion matrix (rows = gold, columns = predicted) as a matplotlib figure (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.35 * len(labels))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
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


def log_torch_model(model, name: str = "model", extra_files: list[str] | None = None):
    """Log a torch module with the pickle serialization (MLflow 3 defaults to `pt2` export, which does not
    trace models with Python-side control flow such as padding masks). Returns the ModelInfo."""
    import torch

    return mlflow.pytorch.log_model(
        model,
        name=name,
        serialization_format="pickle",
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],  # skips slow requirement inference
        extra_files=extra_files,
    )


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
) -> dict[str, Any]:
    """The end of a training run: register the model logged in `run` (`log_torch_model`) as a new version of
    `model_name` and promote it when `value` beats `champion_value` (the champion re-scored by
    `rescore_champion`; see `register_and_maybe_promote` for None), link the version to the Dagster asset
    that trained it (`link_version_to_dagster`, from the run's tags), then tag the run with
    `registered_version` and `promoted`. Returns the run's summary: run_id, experiment_id, version, promoted,
    previous_champion and eval_set."""
    version, promoted, previous = register_and_maybe_promote(
        model_name, run.info.run_id, metric_name, value, eval_set=eval_set, champion_value=champion_value
    )
    link_version_to_dagster(model_name, version, MlflowClient().get_run(run.info.run_id).data.tags)
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

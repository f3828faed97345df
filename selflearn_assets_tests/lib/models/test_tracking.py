"""Champion helpers of `tracking`: re-scoring the champion by the caller's metric, registering and promoting."""

from mlflow.tracking import MlflowClient
from torch import nn

from selflearn_assets.lib.models import tracking


def _score(value: float):
    return lambda champion: value if isinstance(champion, nn.Linear) else None


def test_a_run_is_promoted_only_when_it_beats_the_rescored_champion(tmp_path):
    tracking.configure(tmp_path, "tiny")
    assert tracking.rescore_champion("tiny", _score(1.0)) is None  # no champion yet
    summaries = []
    for value in (0.5, 0.4):
        with tracking.start_run("tiny") as run:
            tracking.log_torch_model(nn.Linear(2, 1))
            champion_now = tracking.rescore_champion("tiny", _score(0.45))
            summaries.append(
                tracking.register_run_model(run, "tiny", "f1", value, "set A", champion_value=champion_now)
            )
    first, second = summaries
    assert (first["version"], first["promoted"], first["previous_champion"]) == ("1", True, None)
    assert (second["version"], second["promoted"], second["previous_champion"]) == ("2", False, 0.45)
    assert second["eval_set"] == "set A" and second["run_id"] != first["run_id"]
    tags = MlflowClient().get_run(second["run_id"]).data.tags
    assert tags["registered_version"] == "2" and tags["promoted"] == "false"
    assert str(tracking.champion_version("tiny").version) == "1"
    assert isinstance(tracking.load_champion("tiny"), nn.Linear)


def test_a_champion_that_no_longer_fits_scores_none(tmp_path):
    tracking.configure(tmp_path, "tiny")
    with tracking.start_run("tiny") as run:
        tracking.log_torch_model(nn.Linear(2, 1))
        tracking.register_run_model(run, "tiny", "f1", 0.5, "set A", champion_value=None)

    def broken(champion):
        raise ValueError("the features changed")

    assert tracking.rescore_champion("tiny", broken) is None
    assert tracking.rescore_champion("tiny", lambda champion: None) is None
    assert tracking.rescore_champion("tiny", _score(0.7)) == 0.7


def test_a_registered_version_links_back_to_the_dagster_asset_that_trained_it(tmp_path):
    """The run's `dagster.*` tags (as the model assets set them) land on the version, and its description
    links to the asset's and the run's pages in the Dagster UI; other run tags stay on the run."""
    tracking.configure(tmp_path, "tiny")
    tags = {
        "dagster.run_id": "0123456789abcdef",
        "dagster.asset": "label_model",
        "dagster.partition": "unpartitioned",
        "dagster.asset_url": "http://dagster.example:3001/assets/label_model",
        "dagster.run_url": "http://dagster.example:3001/runs/0123456789abcdef",
        "data_window": "2026-11-01..2026-11-03",
    }
    with tracking.start_run("tiny", tags=tags) as run:
        tracking.log_torch_model(nn.Linear(2, 1))
        tracking.register_run_model(run, "tiny", "f1", 0.5, "set A", champion_value=None)
    champion = tracking.champion_version("tiny")
    assert {k: v for k, v in champion.tags.items() if k.startswith("dagster.")} == {
        k: v for k, v in tags.items() if k != "data_window"
    }
    assert "data_window" not in champion.tags and champion.tags["eval.set"] == "set A"
    assert champion.description == (
        "Trained by the Dagster asset [label_model](http://dagster.example:3001/assets/label_model), "
        "run [01234567](http://dagster.example:3001/runs/0123456789abcdef)."
    )


def test_a_run_without_dagster_tags_registers_a_version_without_a_link(tmp_path):
    tracking.configure(tmp_path, "tiny")
    with tracking.start_run("tiny", tags={"data_window": "2026-11-01..2026-11-01"}) as run:
        tracking.log_torch_model(nn.Linear(2, 1))
        tracking.register_run_model(run, "tiny", "f1", 0.5, "set A", champion_value=None)
    champion = tracking.champion_version("tiny")
    assert not [k for k in champion.tags if k.startswith("dagster.")]
    assert not champion.description

"""Run config generated from the lib dataclasses (`defs/run_config.py`): each model's and the miner's run config
has exactly the dataclass's fields (but the excluded ones), types and defaults, and config -> dataclass
round-trips, through Dagster's own config system too."""

import dataclasses
from typing import get_type_hints

import dagster as dg
import pytest

from selflearn_assets.defs.models.assets import LabelModelTraining
from selflearn_assets.defs.models.failure_point import FailurePointTraining
from selflearn_assets.defs.models.rephrase import RephraseModelTraining
from selflearn_assets.defs.rewrites.assets import MarkovConfig
from selflearn_assets.defs.run_config import config_class
from selflearn_assets.lib.markov import MarkovParams
from selflearn_assets.lib.models.failure_point_model import FailurePointConfig
from selflearn_assets.lib.models.label_model import LabelModelConfig
from selflearn_assets.lib.models.rephrase_model import RephraseConfig

GENERATED = [  # (run config, its dataclass, the fields left out of run config)
    (LabelModelTraining, LabelModelConfig, {"contextual"}),
    (FailurePointTraining, FailurePointConfig, set()),
    (RephraseModelTraining, RephraseConfig, {"gap_edges"}),
    (MarkovConfig, MarkovParams, {"dense_max", "lu_max", "quadrature_nodes"}),
]
IDS = [g[0].__name__ for g in GENERATED]

# The run-config defaults the model assets had before their settings were merged into the lib dataclasses:
# `selflearn run` (and the README's figures) use these, so they must not move.
PRODUCT_DEFAULTS = {
    LabelModelTraining: {"window_days": 14, "max_sessions": 6000, "gold_weight": 3.0, "epochs": 10,
                         "pretrain_epochs": 2, "d_model": 64, "layers": 2, "seed": 0},
    FailurePointTraining: {"window_days": 14, "epochs": 40, "patience": 6, "weak_weight": 0.3, "d_model": 64,
                           "layers": 2, "seed": 0},
    RephraseModelTraining: {"window_days": 14, "max_sessions": 6000, "epochs": 12, "d_model": 64, "layers": 2,
                            "gold_weight": 3.0, "seed": 0},
}  # fmt: skip


def _changed(value):
    """Another valid value of the same type (floats halved: probabilities stay in [0, 1])."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value else 0.25
    raise TypeError(f"no changed value for {value!r}")


def _through_dagster(config_type: type[dg.Config], run_config: dict):
    """`config.params()` as an asset receives it when launched with `run_config`."""
    seen = []

    @dg.asset(name="probe")
    def probe(config: config_type) -> None:
        seen.append(config.params())

    result = dg.materialize([probe], run_config={"ops": {"probe": {"config": run_config}}})
    assert result.success
    return seen[0]


@pytest.mark.parametrize(("config_type", "source", "excluded"), GENERATED, ids=IDS)
def test_run_config_has_the_dataclass_fields_types_and_defaults(config_type, source, excluded):
    fields = [f for f in dataclasses.fields(source) if f.name not in excluded]
    assert list(config_type.model_fields) == [f.name for f in fields]  # same fields, same order
    hints = get_type_hints(source)
    for f in fields:
        generated = config_type.model_fields[f.name]
        assert generated.default == f.default and generated.annotation == hints[f.name], f.name
    assert config_type().params() == source()


@pytest.mark.parametrize(("config_type", "source", "excluded"), GENERATED, ids=IDS)
def test_run_config_round_trips_to_the_dataclass(config_type, source, excluded):
    """Every run-config field set to a non-default value reaches the dataclass; excluded fields keep their
    defaults; and Dagster's config system (the launchpad's path) accepts every field."""
    defaults = source()
    values = {
        f.name: _changed(getattr(defaults, f.name))
        for f in dataclasses.fields(source)
        if f.name not in excluded
    }
    expected = dataclasses.replace(defaults, **values)
    assert config_type(**values).params() == expected
    assert config_type(**dataclasses.asdict(expected)).model_dump() == values  # and back
    assert _through_dagster(config_type, values) == expected


@pytest.mark.parametrize("config_type", list(PRODUCT_DEFAULTS), ids=lambda c: c.__name__)
def test_product_defaults_are_the_assets_own(config_type):
    expected = PRODUCT_DEFAULTS[config_type]
    assert {k: v for k, v in config_type().model_dump().items() if k in expected} == expected


def _toy(default_size: int) -> type:
    """A throwaway settings dataclass whose `size` defaults to `default_size`."""

    @dataclasses.dataclass(frozen=True)
    class Toy:
        size: int = default_size
        rate: float = 0.5
        name: str = "a"
        flag: bool = False
        tags: list[str] = dataclasses.field(default_factory=lambda: ["x"])
        solver_nodes: int = 48  # an engineering knob, left out of run config

    return Toy


def test_a_changed_dataclass_default_shows_in_the_generated_config():
    for size in (3, 5):
        toy = _toy(size)
        config_type = config_class(toy, exclude=("solver_nodes",))
        assert list(config_type.model_fields) == ["size", "rate", "name", "flag", "tags"]
        assert config_type().size == size and config_type().tags == ["x"]
        assert config_type().params() == toy()
        assert _through_dagster(config_type, {}) == toy(size=size)  # the launchpad's default
        assert _through_dagster(config_type, {"rate": 0.25, "tags": []}) == toy(rate=0.25, tags=[])


def test_excluding_a_field_the_dataclass_lacks_is_an_error():
    with pytest.raises(ValueError, match="Toy has no field sizes, solver to exclude"):
        config_class(_toy(3), exclude=("solver", "sizes"))

"""Run config generated from a lib dataclass: one source of truth for a setting's name, type and default.

A model or miner's settings live once, in a plain dataclass under `lib/` (no Dagster there); the asset's run
config is `config_class(TheDataclass, exclude=...)`, so the launchpad shows exactly the dataclass's fields and
defaults, and `config.params()` gives back the dataclass the lib functions take. Engineering-only knobs (a
solver's sizes, bucket edges) may be left out with `exclude`; they then keep the dataclass's default.
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

import dagster as dg
import pydantic


def config_class(source: type, exclude: tuple[str, ...] = ()) -> type[dg.Config]:
    """A `dg.Config` class with every field of the dataclass `source` but `exclude`, each with the dataclass's
    type and default, and a `params()` method returning the dataclass (excluded fields at their defaults).
    Subclass it to give the asset's run config its name and docstring."""
    names = [f.name for f in dataclasses.fields(source)]
    unknown = sorted(set(exclude) - set(names))
    if unknown:
        raise ValueError(f"{source.__name__} has no field {', '.join(unknown)} to exclude")
    hints = get_type_hints(source)

    def default(field: dataclasses.Field) -> Any:
        if field.default is not dataclasses.MISSING:
            return field.default
        if field.default_factory is not dataclasses.MISSING:
            return pydantic.Field(default_factory=field.default_factory)
        return ...  # required

    class _FromDataclass(dg.Config):
        def params(self) -> Any:
            """The dataclass of these settings (its defaults for the excluded fields)."""
            return source(**self.model_dump())

    return pydantic.create_model(
        f"_{source.__name__}Fields",
        __base__=_FromDataclass,
        **{f.name: (hints[f.name], default(f)) for f in dataclasses.fields(source) if f.name not in exclude},
    )

"""A registry of named, versioned stage factories (the shape of spaCy's `Language.factory`).

Each factory is registered under a versioned name such as ``"summarize.extractive.v1"``. Its keyword defaults are
its ``default_config``, so a stage's defaults are written once, in the factory's signature; building a stage merges
the user's values over them. A registry is an ordinary object, so tests build a fresh one instead of polluting a
global.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

from .errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["Factory", "Registry"]


@dataclass(frozen=True, slots=True)
class Factory:
    name: str
    func: Callable[..., Any]
    default_config: Mapping[str, Any]


def _signature_defaults(name: str, func: Callable[..., Any]) -> Mapping[str, Any]:
    """The default of every parameter of `func`, which are the options of the stage `name`.

    Raises:
        TypeError: a parameter has no default (or is ``*args``/``**kwargs``): config could not leave it out, and
            unknown options could not be refused.
    """
    defaults = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.default is param.empty:
            raise TypeError(
                f"stage {name!r}: factory {func.__module__}.{func.__qualname__} parameter {param}: every parameter of a "
                "stage factory needs a default (its options are its keyword defaults)"
            )
        defaults[param.name] = param.default
    return MappingProxyType(defaults)


class Registry:
    def __init__(self) -> None:
        self._factories: dict[str, Factory] = {}

    def register(self, name: str, func: Callable[..., Any]) -> None:
        """Register `func(**config)` under `name`, its keyword defaults as the default config. Re-registering the
        same function is a no-op; registering a different function under a taken name is refused."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"stage name must be a non-empty str, got {name!r}")
        existing = self._factories.get(name)
        if existing is not None:
            if existing.func is func:
                return
            raise ValueError(
                f"stage name {name!r} is already registered to {existing.func.__module__}.{existing.func.__qualname__}; "
                "choose a new versioned name (e.g. bump .v1 to .v2)"
            )
        self._factories[name] = Factory(name, func, _signature_defaults(name, func))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._factories))

    def get(self, name: str) -> Factory:
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError("stage", name, f"unknown stage; available: {', '.join(self.names) or '(none)'}") from None

    def build(self, name: str, config: Optional[Mapping[str, Any]] = None) -> Any:
        """Build the stage `name`, merging `config` over its defaults. Unknown keys are errors, and so is a value
        that is not true or false for an option whose default is (the factory checks the other values)."""
        fac = self.get(name)
        config = dict(config or {})
        unknown = sorted(set(config) - set(fac.default_config))
        if unknown:
            raise ConfigError(
                f"{name}.{unknown[0]}", config[unknown[0]], f"unknown option; {name} accepts: {', '.join(sorted(fac.default_config)) or '(none)'}"
            )
        for key, value in config.items():  # a switch is a switch: "false" would be true, 0 would pass for false
            if isinstance(fac.default_config[key], bool) and not isinstance(value, bool):
                raise ConfigError(f"{name}.{key}", value, "true or false")
        merged = {**fac.default_config, **config}
        logger.debug("building stage %s with %s", name, merged)
        return fac.func(**merged)

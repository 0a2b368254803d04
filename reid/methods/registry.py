"""Method registry: ``register_method`` / ``create_method`` / ``list_methods``.

Import these from :mod:`reid.methods`: importing that package registers every built-in method first.
"""

from __future__ import annotations

from typing import Any, TypeVar

from reid.errors import ConfigError
from reid.methods.base import ReIDMethod

_METHODS: dict[str, type[ReIDMethod]] = {}
_M = TypeVar("_M", bound="type[ReIDMethod]")


def register_method(cls: _M) -> _M:
    """Class decorator: register a :class:`ReIDMethod` subclass under its ``name``.

    Raises:
        ConfigError: the name is already taken by another class.
    """
    name = cls.name
    if name in _METHODS and _METHODS[name] is not cls:
        taken = _METHODS[name].__qualname__
        raise ConfigError(f"method name {name!r} is registered twice ({taken}, {cls.__qualname__})")
    _METHODS[name] = cls
    return cls



def list_methods() -> list[str]:
    """Names of every registered method, sorted."""
    return sorted(_METHODS)


def method_class(name: str) -> type[ReIDMethod]:
    """The class registered under ``name``.

    Raises:
        ConfigError: unknown name; the message lists the valid ones.
    """
    if name not in _METHODS:
        raise ConfigError(f"method={name!r} is not registered; expected one of {', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def create_method(name: str, **kwargs: Any) -> ReIDMethod:
    """Build the method registered under ``name`` from explicit constructor arguments."""
    return method_class(name)(**kwargs)

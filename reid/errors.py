"""Errors raised on bad user input: each names the offending path or field and what was expected."""

from __future__ import annotations

from pathlib import Path


class ReidError(Exception):
    """Base class of every error this package raises on purpose."""


class DatasetError(ReidError):
    """A dataset on disk does not match its documented layout.

    Args:
        path: the file or folder at fault.
        expected: what should have been there, in words.
        field: the field inside the file at fault (a line, a key), if any.
    """

    def __init__(self, path: str | Path, expected: str, field: str | None = None) -> None:
        self.path = Path(path)
        self.expected = expected
        self.field = field
        where = f"{self.path}" if field is None else f"{self.path} [{field}]"
        super().__init__(f"{where}: expected {expected}")


class ConfigError(ReidError):
    """An option or argument has a value outside what is accepted."""

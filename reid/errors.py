"""Errors raised on bad user input: each names the offending path or field and what was expected."""

from __future__ import annotations

from pathlib import Path


class ReidError(Exception):
    """Base class of every error this package raises on purpose."""


class FileContentError(ReidError):
    """A file or folder does not hold what it should.

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


class DatasetError(FileContentError):
    """A dataset on disk does not match its documented layout."""


class ConfigError(ReidError):
    """An option or argument has a value outside what is accepted."""


class ArtifactError(FileContentError):
    """A file the engine writes and reads back (checkpoint, run record) is missing or malformed."""


class GoldenError(FileContentError):
    """A golden file (golden/: paper tables, claims, settings, aliases) breaks its documented format."""


class NonFiniteLossError(ReidError):
    """Training produced a NaN or infinite loss; the run stops where it happened.

    Args:
        epoch: 0-based epoch.
        step: 0-based step within the epoch.
        loss: the total loss value.
        parts: each named loss term's value at that step.
    """

    def __init__(self, epoch: int, step: int, loss: float, parts: dict[str, float]) -> None:
        self.epoch = epoch
        self.step = step
        self.loss = loss
        self.parts = dict(parts)
        terms = ", ".join(f"{name}={value:.6g}" for name, value in self.parts.items()) or "none"
        super().__init__(
            f"non-finite loss at epoch {epoch}, step {step} (both 0-based): loss={loss:.6g}; parts: {terms}"
        )


class NonFiniteFeaturesError(ReidError):
    """A model gave NaN or infinite test features; the evaluation stops instead of ranking them.

    Args:
        feature: the feature's name (``bn``, ``pool``, ...).
        count: how many of the ``total`` extracted images have a non-finite value in it.
        total: images extracted.
        first: the first such image's path (or synthetic key) and modality.
    """

    def __init__(self, feature: str, count: int, total: int, first: str) -> None:
        self.feature = feature
        self.count = count
        self.total = total
        self.first = first
        super().__init__(
            f"the '{feature}' feature is NaN or infinite for {count} of {total} test images (first: {first}); the "
            "model's eval-mode output overflowed. One known way: after a few steps at a high rate, BatchNorm "
            "running statistics that do not fit the weights yet are amplified past float32 by AGW's dot-product "
            "non-local blocks, which are cubic in their input (docs/decisions.md, \"Non-finite test features\")"
        )

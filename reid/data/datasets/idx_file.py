"""AGW-style index files: one ``<relative/path> <label>`` line per image (RegDB, LLCM training lists)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reid.errors import DatasetError


@dataclass(frozen=True)
class IdxEntry:
    """One line of an AGW-style index file: ``<relative/path> <label>``.

    Attributes:
        line: 1-based line number in the file (for error messages).
        path: the image path relative to the dataset root, as written.
        label: the integer after the path.
    """

    line: int
    path: str
    label: int


def read_idx_file(path: Path) -> list[IdxEntry]:
    """Read an index file of lines ``<relative/path> <label>`` (RegDB ``idx/*.txt``, LLCM ``idx/train_*.txt``).

    The format AGW's ``load_data`` reads (``line.split(' ')`` -> path, ``int(label)``).
    Blank lines are skipped; any other line must hold exactly a relative path without
    ``..`` and a non-negative integer.

    Raises:
        DatasetError: the file is missing, or a line (named ``line N``) is malformed.
    """
    if not path.is_file():
        raise DatasetError(path, "an index file of lines '<relative/path> <label>'")
    entries = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        fields = text.split()
        field = f"line {number}"
        if len(fields) != 2 or not (fields[1].isascii() and fields[1].isdigit()):
            expected = "'<relative/path> <label>' with a non-negative integer label"
            raise DatasetError(path, f"{expected}, got {text!r}", field)
        rel = PurePosixPath(fields[0])
        if rel.is_absolute() or ".." in rel.parts:
            raise DatasetError(path, f"an image path relative to the dataset root, got {fields[0]!r}", field)
        entries.append(IdxEntry(number, fields[0], int(fields[1])))
    if not entries:
        raise DatasetError(path, "at least one '<relative/path> <label>' line, found an empty file")
    return entries

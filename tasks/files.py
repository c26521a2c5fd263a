"""Output files and folders: checked before a run records anything, and each file replaced whole or not at all.

decisions.csv, summary.json, report.html, intake.csv, what-if.csv, drift.csv and audit.csv go through `write_whole`,
so a failed write (a full disk, a permission) leaves the previous file as it was and says so. (The outbox of a dry
run is emptied and written afresh, file by file: tasks/outbox.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

from schemas.errors import StaffError


class OutputError(StaffError):
    """An output file could not be written; the file from the previous run is left as it was."""


def _nearest_existing(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if p.exists()), Path("."))


def check_output_folder(path: Path, flag: str = "--out") -> Path:
    """The folder a run writes into, checked before anything is recorded: not a file, not under a file, writable.

    (It is made when missing.) A run that would fail at its last step must fail at its first.
    """
    existing = _nearest_existing(path)
    if existing == path and not path.is_dir():
        raise OutputError(
            f"{flag} {path} is a file, not a folder: give a folder (it is made when missing); nothing was done"
        )
    if not existing.is_dir():
        raise OutputError(f"{flag} {path} lies under {existing}, which is a file, not a folder: nothing was done")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: {existing} cannot be written to (permissions): nothing was done")
    return path


def check_output_file(path: Path, flag: str = "--out") -> Path:
    """A file a command writes, checked first: not a folder, its folder not a file, writable."""
    if path.is_dir():
        raise OutputError(
            f"{flag} {path} is a folder: give the file to write, e.g. {path / 'audit.csv'}; nothing was done"
        )
    check_output_folder(path.parent, flag=f"{flag} {path}: its folder")
    return path


def write_whole(path: Path, text: str) -> Path:
    """The file is replaced whole or not at all: written beside it, then renamed over it."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({exc.strerror}); the previous file, if any, is unchanged") from None
    return path

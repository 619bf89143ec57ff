"""Landing zones checked: ``move_source`` and ``delete_source`` against each other and the run's sources.

:func:`check_source_actions` checks the settings alone (from IngestConfig); :func:`check_landing_zone`
checks the folder against the run's sources, before anything is sent: it blocks (it looks at the
file system), so run it in a worker thread.  What is done once a file has landed is in ``_settle``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ._exceptions import ConfigError

__all__ = ["check_landing_zone", "check_source_actions"]


def check_source_actions(move_source: Path | None, delete_source: bool) -> None:
    """Raise ConfigError if both are asked for: a source is moved or deleted, not both."""
    if move_source is not None and delete_source:
        raise ConfigError("--move-source and --delete-source exclude each other: give one")


def check_landing_zone(move_source: Path | None, roots: Iterable[tuple[Path, bool]]) -> None:
    """Raise ConfigError unless *move_source* can take the files of the sources whose *roots* are given.

    Each root is a source's path (or a pattern's folder: ``_plan.source_roots``) and whether it
    is a folder.  The landing folder must not be inside a source folder (or be one), no source
    may be inside it, and it must be a writable directory, or not exist yet under a writable
    directory (it is then created by the first move).
    """
    if move_source is None:
        return
    shown = os.fsdecode(move_source)
    target = Path(os.path.realpath(move_source))
    for root, is_folder in roots:
        real = Path(os.path.realpath(root))
        if (is_folder and target.is_relative_to(real)) or real.is_relative_to(target):
            raise ConfigError(
                f"--move-source {shown}: is inside the source {os.fsdecode(root) or '.'} or holds it; "
                "give a folder outside the sources"
            )
    if target.is_dir():
        if not os.access(target, os.W_OK | os.X_OK):
            raise ConfigError(f"--move-source {shown}: directory is not writable")
        return
    if target.exists():
        raise ConfigError(f"--move-source {shown}: is not a directory")
    parent, named = target.parent, os.fsdecode(move_source.parent)
    if not parent.is_dir():
        raise ConfigError(f"--move-source {shown}: does not exist, nor does its parent {named}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--move-source {shown}: does not exist, and its parent {named} is not writable")

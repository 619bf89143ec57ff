"""Warnings about a plan that is valid but probably not what was meant, given before anything is sent."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from ._plan import UploadSpec, parse_source

__all__ = ["NUMBERED_MIN", "numbered_categories"]

#: Files of one directory whose categories differ only in digits, from which on a warning is given.
NUMBERED_MIN = 3

_DIGITS = re.compile(r"\d+")


def _under(path: str, root: str) -> bool:
    """Whether *path* is *root* or under it, as ``Path.is_relative_to`` says, without making Paths."""
    if root == ".":
        return not os.path.isabs(path)
    head = root if root.endswith(os.sep) else root + os.sep
    return path == root or path.startswith(head)


def numbered_categories(
    sources: Sequence[str], specs: Sequence[UploadSpec], *, category_from_parent: bool = False
) -> list[str]:
    """One warning per directory source whose files would each be a category of their own, numbered alike.

    ``part-0000.csv``, ``part-0001.csv``, ... in ``data/`` make ``Part-0000``, ``Part-0001``, ...: almost
    always one data set cut into parts, which belongs under one category.  Sources with a category
    (``CATEGORY=DIR``) or filed by their folder (*category_from_parent*) are left alone.  Blocking (it
    stats the sources): call it from a worker thread.
    """
    if category_from_parent:
        return []
    warnings = []
    for text in sources:
        source = parse_source(text)
        if source.category is not None or not source.path.is_dir():
            continue
        alike: dict[str, set[str]] = {}
        root = os.fspath(source.path)
        for spec in specs:
            if _DIGITS.search(spec.category) and _under(spec.path, root):
                alike.setdefault(_DIGITS.sub("#", spec.category), set()).add(spec.category)
        numbered = max(alike.values(), key=len, default=set())
        if len(numbered) < NUMBERED_MIN:
            continue
        categories = sorted(numbered)
        shown = os.fsdecode(source.path)
        warnings.append(
            f"{shown}: {len(categories)} of its files are each a category of their own "
            f"({categories[0]}, {categories[1]}, …); to file them under one, name it "
            f"({_DIGITS.sub('', categories[0]).strip('-_ .') or 'CATEGORY'}={shown}) or use --category-from-parent"
        )
    return warnings

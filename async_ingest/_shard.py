"""Shards: one run split between machines by a stable hash of each key, coordinated through S3 only.

Every shard plans and validates the whole run, then uploads its own share: the files whose
key hashes (CRC-32 of its UTF-8 bytes, the same on every machine, Python version and run)
to its index.  Each writes its own manifest under the run's id; whichever sees the manifests
of all the shards writes the ``_SUCCESS`` markers of the run, each with a conditional create
(``If-None-Match: *``), so that each marker has exactly one writer.
"""

from __future__ import annotations

import argparse
import os
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ._exceptions import ConfigError
from ._parse import Kind

__all__ = ["RUN_ID", "SHARD", "Shard", "check_run_id", "shard_of", "shard_settings"]

#: A run id is one safe key piece: it names the run's manifests.
_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHARD_RE = re.compile(r"\s*(\d+|auto)\s*(?:/\s*(\d+)\s*)?")

#: The variables schedulers set in each task of an array, read in this order by ``auto``:
#: Kubernetes Indexed Jobs, AWS Batch array jobs, Slurm job arrays.
INDEX_VARIABLES = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", "SLURM_ARRAY_TASK_ID")


class _Keyed(Protocol):
    """What a shard tells apart: anything with the key it lands at (an UploadSpec)."""

    @property
    def key(self) -> str: ...


Spec = TypeVar("Spec", bound=_Keyed)


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) that uploads *key*: CRC-32 of its UTF-8 bytes, modulo *count*."""
    return zlib.crc32(key.encode("utf-8")) % count


def _whole(variable: str, environ: Mapping[str, str]) -> int:
    text = environ.get(variable, "")
    if not text.strip().isdigit():
        raise ConfigError(f"environment variable {variable}: {text!r} is not a whole number")
    return int(text)


@dataclass(frozen=True)
class Shard:
    """Shard *index* (from 0) of *count*: the files of a run whose key hashes to *index*."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or not isinstance(self.count, int):
            raise ConfigError(f"invalid shard {self.index!r}/{self.count!r}: use whole numbers INDEX/COUNT")
        if self.count < 1:
            raise ConfigError(f"invalid shard {self}: the count must be at least 1")
        if not 0 <= self.index < self.count:
            raise ConfigError(f"invalid shard {self}: the index goes from 0 to {self.count - 1}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, key: str) -> bool:
        """Whether this shard uploads *key*."""
        return shard_of(key, self.count) == self.index

    def select(self, uploads: Iterable[Spec]) -> tuple[Spec, ...]:
        """This shard's share of *uploads*, in their order."""
        return tuple(spec for spec in uploads if self.owns(spec.key))

    @property
    def label(self) -> str:
        """The shard as its manifest's name says it: ``shard-0003-of-0008``."""
        return f"shard-{self.index:04d}-of-{self.count:04d}"

    @classmethod
    def from_environment(cls, count: int | None = None, environ: Mapping[str, str] | None = None) -> Shard:
        """The shard a scheduler's array task is, from the variables it sets; raises ConfigError.

        The index is the first set of ``JOB_COMPLETION_INDEX`` (Kubernetes Indexed Jobs),
        ``AWS_BATCH_JOB_ARRAY_INDEX`` (AWS Batch array jobs) and ``SLURM_ARRAY_TASK_ID`` minus
        ``SLURM_ARRAY_TASK_MIN`` (Slurm job arrays).  Without *count*, ``SLURM_ARRAY_TASK_COUNT``.
        """
        environ = os.environ if environ is None else environ
        variable = next((name for name in INDEX_VARIABLES if environ.get(name)), None)
        if variable is None:
            raise ConfigError(f"shard auto: none of {', '.join(INDEX_VARIABLES)} is set; give the index: INDEX/COUNT")
        index = _whole(variable, environ)
        if variable == "SLURM_ARRAY_TASK_ID" and environ.get("SLURM_ARRAY_TASK_MIN"):
            index -= _whole("SLURM_ARRAY_TASK_MIN", environ)
        if count is None:
            if not environ.get("SLURM_ARRAY_TASK_COUNT"):
                raise ConfigError("shard auto: SLURM_ARRAY_TASK_COUNT is not set; give the count: auto/COUNT")
            count = _whole("SLURM_ARRAY_TASK_COUNT", environ)
        return cls(index, count)

    @classmethod
    def parse(cls, text: str, environ: Mapping[str, str] | None = None) -> Shard:
        """A shard from ``INDEX/COUNT``, ``auto/COUNT`` or ``auto`` (see :meth:`from_environment`)."""
        match = _SHARD_RE.fullmatch(text)
        problem = f"invalid shard {text!r}: use INDEX/COUNT (INDEX from 0), auto/COUNT or auto"
        if not match or (match.group(1) != "auto" and match.group(2) is None):
            raise argparse.ArgumentTypeError(problem)
        count = int(match.group(2)) if match.group(2) is not None else None
        try:
            if match.group(1) == "auto":
                return cls.from_environment(count, environ)
            return cls(int(match.group(1)), count or 0)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None


#: The kind of the ``shard`` setting: ``auto`` is resolved where the text is read, from this process's environment.
SHARD = Kind(Shard.parse, 'a shard such as "3/8", "auto/8" or "auto"')


def check_run_id(run_id: str) -> str:
    """Return *run_id* if it is a safe key piece (letters, digits, '.', '_', '-'), else raise ConfigError."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id) or run_id in {".", ".."}:
        raise ConfigError(
            f"invalid run id {run_id!r}: a run id holds letters, digits, '.', '_' and '-', "
            "and starts with a letter or digit"
        )
    return run_id


def _run_id_text(text: str) -> str:
    try:
        return check_run_id(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: The kind of the ``run_id`` setting.
RUN_ID = Kind(_run_id_text, "a run id: letters, digits, '.', '_' and '-'", text_in_file=True)


def shard_settings(
    shard: Shard | Sequence[int] | None, run_id: str | None, manifest: bool, success_marker: bool
) -> Shard | None:
    """The validated shard (a ``(index, count)`` pair becomes a Shard) after checking *run_id*; raises ConfigError.

    With markers, the shards of a run learn that the set is complete from each other's manifests.
    """
    if run_id is not None:
        check_run_id(run_id)
    if shard is None or isinstance(shard, Shard):
        checked = shard
    elif isinstance(shard, str) or len(shard) != 2:
        raise ConfigError(f"invalid shard {shard!r}: give Shard(index, count) or an (index, count) pair")
    else:
        checked = Shard(*shard)
    if checked is not None and success_marker and not manifest:
        raise ConfigError("success_marker with shard needs the manifest: the shards learn of each other from it")
    return checked

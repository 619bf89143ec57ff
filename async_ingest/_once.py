"""The ``once`` setting, checked: a file landed by a run of the last WINDOW of processing dates is not landed again.

What earlier runs landed is read from their manifests in the bucket (``_landed``); a run on
processing date D counts the manifests of D back to D - WINDOW, in whole days.
"""

from __future__ import annotations

import datetime

from ._exceptions import ConfigError

__all__ = ["check_once", "window_days"]


def check_once(once: datetime.timedelta | None, *, checksum: str, manifest: bool, layout: str) -> None:
    """Refuse ``once`` settings that cannot work: no checksum to compare, no manifests to read, no window.

    *checksum*, *manifest* and *layout* are the run's checksum, manifest switch and manifest layout.
    """
    if once is None:
        return
    if once.total_seconds() <= 0:
        raise ConfigError("once must be a positive age, such as 30d or 12h")
    if checksum == "none":
        raise ConfigError("--once compares checksums: it cannot be used with --checksum none")
    if not manifest:
        raise ConfigError("--once reads and writes the run manifests: it cannot be used with --no-manifest")
    if "{zone}" not in layout or "{origin}" not in layout or not layout.endswith("/{filename}"):
        raise ConfigError(
            f"--once reads the manifests of this zone and origin by their folder: manifest layout {layout!r} "
            "needs {zone} and {origin} and must end with /{filename}"
        )


def window_days(date: datetime.date, once: datetime.timedelta) -> list[datetime.date]:
    """The processing dates whose manifests count for a run on *date*: *date* back to *date* - *once*."""
    return [date - datetime.timedelta(days=back) for back in range(once.days + 1)]

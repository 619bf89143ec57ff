"""The public API is exactly what __all__ names."""

from __future__ import annotations

import async_ingest


def test_exported_members() -> None:
    """Every public name is exported, and every export exists (pins the API, as httpx does)."""
    public = {name for name in dir(async_ingest) if not name.startswith("_")}
    assert set(async_ingest.__all__) - {"__version__"} == public - {"cli"}
    for name in async_ingest.__all__:
        assert getattr(async_ingest, name) is not None


def test_errors_share_one_base() -> None:
    """Every error the library raises on purpose can be caught as IngestError."""
    errors = [getattr(async_ingest, name) for name in async_ingest.__all__ if name.endswith("Error")]
    assert errors
    assert all(issubclass(error, async_ingest.IngestError) for error in errors)

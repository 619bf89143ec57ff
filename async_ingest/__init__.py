"""async_ingest: land local files in the raw zone of an S3 data lake, concurrently,
under date-partitioned keys.

    report = await async_ingest.ingest(["data/movies.csv"], bucket="lake")

Importing the package does not import botocore; that happens when an upload starts.
"""

from ._config import IngestConfig, IngestSettings
from ._exceptions import (
    ChecksumMismatchError,
    ConfigError,
    DuplicateKeyError,
    IngestError,
    IngestFailedError,
    InvalidKeyError,
    ObjectExistsError,
    SourceChangedError,
    SourceError,
)
from ._ingestor import Ingestor, RunPlan, ingest
from ._keys import LAYOUTS, KeyBuilder
from ._plan import Source, UploadSpec
from ._results import FileResult, FileStatus, IngestReport, ProgressEvent
from ._sweep import StaleUpload
from ._version import __version__

__all__ = [
    "LAYOUTS",
    "ChecksumMismatchError",
    "ConfigError",
    "DuplicateKeyError",
    "FileResult",
    "FileStatus",
    "IngestConfig",
    "IngestError",
    "IngestFailedError",
    "IngestReport",
    "IngestSettings",
    "Ingestor",
    "InvalidKeyError",
    "KeyBuilder",
    "ObjectExistsError",
    "ProgressEvent",
    "RunPlan",
    "Source",
    "SourceChangedError",
    "SourceError",
    "StaleUpload",
    "UploadSpec",
    "__version__",
    "ingest",
]

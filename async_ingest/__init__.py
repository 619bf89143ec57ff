"""async_ingest: land local files in the raw zone of an S3 data lake, concurrently,
under date-partitioned keys.

    report = await async_ingest.ingest(["data/movies.csv"], bucket="lake")

Importing the package does not import botocore; that happens when an upload starts.
"""

from ._client import warm_up
from ._config import IngestConfig
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
    WorkerError,
)
from ._ingestor import Ingestor, ingest
from ._keys import LAYOUTS, KeyBuilder
from ._kwargs import IngestSettings
from ._plan import RunPlan, Source, UploadSpec
from ._results import FileResult, FileStatus, IngestReport, ProgressEvent
from ._run import Run
from ._shard import Shard
from ._sweep import StaleUpload
from ._types import S3Client
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
    "Run",
    "RunPlan",
    "S3Client",
    "Shard",
    "Source",
    "SourceChangedError",
    "SourceError",
    "StaleUpload",
    "UploadSpec",
    "WorkerError",
    "__version__",
    "ingest",
    "warm_up",
]

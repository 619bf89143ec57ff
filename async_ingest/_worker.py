"""Entry point of a worker process: ``python -m async_ingest._worker`` (see _workers)."""

import sys

from ._workers import main

if __name__ == "__main__":
    sys.exit(main())

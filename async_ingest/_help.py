"""The closing text of ``async-ingest --help``: source forms, value formats, examples, exit codes.

Plain text laid out by hand, for a parser built with ``RawDescriptionHelpFormatter``.
"""

from __future__ import annotations

__all__ = ["EPILOG"]

EPILOG = """\
sources:
  PATH            a file; its category is its name title-cased (movies.csv -> Movies)
  CATEGORY=PATH   a file (or directory, or glob) under that category
  DIRECTORY       its regular, non-hidden files (subfolders too with --recursive)
  'GLOB'          quoted, so the shell leaves it alone: 'data/*.csv', 'data/**/*.csv'
  none            the [[sources]] of the config file; /data in the Docker image

values:
  sizes   8MiB, 16MB (16,000,000 bytes), 8M (= 8MiB), or plain bytes: 5242880
  dates   YYYY-MM-DD, such as 2022-05-02; with the hour 2022-05-02T07
  ages    a number and s, m, h or d: 90m, 24h, 7d

examples:
  the daily job, landing under Raw/Local/CSV/<Category>/2022/05/02/:
    async-ingest --bucket lake --date 2022-05-02 data/movies.csv data/series.csv
  the keys a run would write, without writing anything:
    async-ingest --bucket lake --dry-run 'exports/*.csv'
  the settings and sources in async-ingest.toml, checked, then run:
    async-ingest --print-config && async-ingest
  try it with no cloud account (needs the [local] extra):
    async-ingest --local data/movies.csv
  in Docker, the files mounted at /data:
    docker run --rm -v "$PWD/data:/data:ro" -e ASYNC_INGEST_BUCKET=lake \\
      -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_REGION async-ingest

checking a run afterwards:
  async-ingest verify MANIFEST   (see async-ingest verify --help)

exit codes:
  0 every file uploaded or skipped; 1 a file failed (the others still land);
  2 usage or configuration error (nothing was uploaded); 130 interrupted (143 on SIGTERM)
"""

#!/usr/bin/env bash
# Set up and run the main job on a fresh machine: ingest movies.csv and series.csv
# (generated under data/ if absent) into the trial S3 endpoint started in-process,
# then print the report.  Extra arguments go to async-ingest (e.g. --json).
#   SCALE=0.01 scripts/demo.sh     # smaller sample files (default 1 = 250 MB + 40 MB)
#   PYTHON=python3.12 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv local
"$VENV/bin/python" scripts/make_sample_data.py data --scale "${SCALE:-1}"
exec "$VENV/bin/async-ingest" --local "$@" data/movies.csv data/series.csv

#!/usr/bin/env bash
# Set up and run the main job on a fresh machine: ingest movies.csv and series.csv
# (generated under data/ if absent, or made at another SCALE) into the trial S3
# endpoint started in-process, then print the report and the next step.
# Extra arguments go to async-ingest (e.g. --json).
#   SCALE=0.01 scripts/demo.sh     # smaller sample files (default 1 = 250 MB + 40 MB)
#   PYTHON=python3.12 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv local
"$VENV/bin/python" scripts/make_sample_data.py data --scale "${SCALE:-1}"
say "running: $VENV/bin/async-ingest --local${*:+ $*} data/movies.csv data/series.csv"
status=0
"$VENV/bin/async-ingest" --local "$@" data/movies.csv data/series.csv || status=$?
# The next step goes to stderr, so that `scripts/demo.sh --json` keeps stdout pure JSON.
cat >&2 <<NEXT

==> next: the same command against a real bucket.  Drop --local and name the bucket;
    credentials and region come from the standard AWS chain (AWS_PROFILE or
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_REGION, ~/.aws, instance roles):

      $VENV/bin/async-ingest --bucket YOUR-BUCKET data/movies.csv data/series.csv

    Another S3-compatible store: add --endpoint-url https://s3.example.com (or set
    AWS_ENDPOINT_URL).  Try --dry-run first to see the keys without writing anything.
    The command lives in $VENV/bin/ (not on PATH): see README.md, "Install".
NEXT
exit "$status"

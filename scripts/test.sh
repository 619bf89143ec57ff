#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine.  Extra arguments go to pytest.
# The tests start their own S3-compatible server (moto) on 127.0.0.1; the Docker test
# runs when a Docker daemon and $BASE_IMAGE are available and skips otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv dev
exec "$VENV/bin/python" -m pytest "$@"

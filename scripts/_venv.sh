# Sourced by the scripts: make .venv with the project installed (editable) and the given extra.
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

say() { echo "==> $*" >&2; }

ensure_venv() {
  local extra=$1
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "async_ingest needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 2
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
  fi
  # Re-install only when pyproject.toml changed since the last install.
  local stamp="$VENV/.installed-$extra"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing the project and its [$extra] extra into $VENV (about a minute on a fresh machine)…"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[$extra]"
    touch "$stamp"
    say "installed: $VENV/bin/async-ingest"
  fi
}

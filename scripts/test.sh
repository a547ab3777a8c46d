#!/usr/bin/env bash
# Quick start, command 2: set everything up (venv, default model, OpenSearch and Elasticsearch test nodes, a
# headless chromium for the playground) and
# run the whole test suite: unit tests, doctests, and integration tests against real engines started by the
# pytest session fixtures. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh --engines --browser
export SPLADEKIT_CACHE="${SPLADEKIT_CACHE:-$ROOT/.cache}"
exec .venv/bin/python -m pytest "$@"

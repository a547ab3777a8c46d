#!/usr/bin/env bash
# Quick start, command 1: set everything up and run the main job on the embedded default (local index,
# default model): ingest the sample corpus in ingest/, run a few queries, show hits and why they matched.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
export SPLADEKIT_CACHE="${SPLADEKIT_CACHE:-$ROOT/.cache}"
exec .venv/bin/spladekit demo "$@"

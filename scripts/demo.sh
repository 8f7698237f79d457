#!/usr/bin/env bash
# Fresh-machine quickstart: install Lookout into .venv, replay the bundled NAB sample
# (no Kafka needed), write results/ and score them against the labelled windows.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh
out="${1:-results}"
.venv/bin/lookout replay --out "$out"
if .venv/bin/lookout evaluate --help >/dev/null 2>&1; then
    .venv/bin/lookout evaluate "$out"
fi

#!/usr/bin/env bash
# Fresh-machine quickstart: install Lookout into .venv (the package alone: no test tools, no
# Kafka broker, Prometheus or Alertmanager), replay the bundled NAB sample (no Kafka needed),
# write results/, score them against the labelled windows and write a report into report/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
if [ ! -x .venv/bin/lookout ]; then
    .venv/bin/python -m pip install --quiet -e .
fi
out="${1:-results}"
report="${2:-report}"
demo=sim/data/demo
.venv/bin/lookout replay "$demo/data" --out "$out"
.venv/bin/lookout evaluate "$out" --data "$demo/data" --windows "$demo/labels/combined_windows.json"
.venv/bin/lookout report "$out" --data "$demo/data" --windows "$demo/labels/combined_windows.json" \
    --out "$report"

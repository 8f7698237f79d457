#!/usr/bin/env bash
# Create .venv (if missing) and install Lookout with its test extra into it. Safe to run again.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.lookout-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[test]"
    touch "$stamp"
fi
# Compile the detector kernels once (numba caches them beside the sources): the first replay
# or test run then starts in a second instead of waiting half a minute for the compiler.
# numba checks a cached function against its own file only: the stack's loop
# (detectors/kernel.py) inlines the parts of detectors/, so drop caches older than any of them.
newest="$(find detectors -name '*.py' -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2-)"
find detectors -name '*.nbi' ! -newer "$newest" -delete
.venv/bin/python -c "from detectors.bank import warm_up; warm_up()"
.venv/bin/python -c "from stream.outputs.csv_rows import warm_up; warm_up()"  # result rows

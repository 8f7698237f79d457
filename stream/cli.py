"""The ``lookout`` command line. Each command lives in its own ``stream/cli_*.py`` module."""

from __future__ import annotations

import argparse
import sys

from stream.compile_cache import prepare_compile_cache

# Before any command module imports the compiled kernels: a read-only install run by a user
# without a home (the container image) must not fail at import for want of a cache folder.
prepare_compile_cache()

from stream import cli_evaluate, cli_live, cli_replay, cli_report, cli_simulate  # noqa: E402

__all__ = ["main", "build_parser"]

COMMAND_MODULES = [cli_replay, cli_simulate, cli_evaluate, cli_report, cli_live]


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

"""The ``lookout`` command line. Each command lives in its own ``stream/cli_*.py`` module."""

from __future__ import annotations

import argparse
import os
import sys

from stream import cli_evaluate, cli_live, cli_replay, cli_report, cli_simulate

__all__ = ["main", "build_parser"]

COMMAND_MODULES = [cli_replay, cli_simulate, cli_evaluate, cli_report, cli_live]

# Exit status of a process stopped by SIGPIPE (128 + 13), what `yes | head` leaves behind.
EXIT_BROKEN_PIPE = 141


class _VersionAction(argparse.Action):
    """``--version``: the installed package's version, read only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from stream.metrics import lookout_version

        print(f"{parser.prog} {lookout_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lookout",
        description="Streaming anomaly detection for SRE metrics: score every point of every "
        "series as it arrives (rolling z-score, Half-Space-Trees, lag forecaster), "
        "turn scores into alerts, and measure how good the alerts are.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the installed version and exit"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`lookout evaluate ... | head`): stop quietly, as Unix tools do.
        # stdout is pointed at /dev/null so the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


if __name__ == "__main__":
    sys.exit(main())

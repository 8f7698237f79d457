"""The ``lookout`` command line. Each command lives in its own module of ``stream/cli/``.

A command module declares its options (:class:`stream.cli.settings.Option`) and registers a
handler that receives the resolved, frozen :class:`stream.cli.settings.Settings`: every option
of every command can be given as a flag, a ``LOOKOUT_*`` variable or a key of ``--config FILE``.
"""

from __future__ import annotations

import argparse
import os
import sys

from stream.compile_cache import prepare_compile_cache

# Before any command module imports the compiled kernels: a read-only install run by a user
# without a home (the container image) must not fail at import for want of a cache folder.
prepare_compile_cache()

from stream.cli import backfill, evaluate, live, replay, report, simulate  # noqa: E402
from stream.cli.settings import Option, add_options, describe, env_name, resolve  # noqa: E402

__all__ = ["main", "build_parser", "register_command"]

COMMAND_MODULES = [replay, simulate, evaluate, report, live, backfill]


def register_command(
    commands, name: str, handler, groups, validate=None, describe_more=None, **parser_options
):
    """Add command ``name``: its options in argument groups (``{title: options}``; title None:
    no group), ``--config`` and ``--print-config``, and the ``handler(settings)`` it runs.
    ``validate(settings)`` raises ``ValueError`` for settings that contradict each other; it runs
    before ``--print-config`` prints them, so that a printed configuration is a usable one.
    ``describe_more(settings)`` gives lines ``--print-config`` adds (such as the alert rules)."""
    parser = commands.add_parser(name, **parser_options)
    options: list[Option] = []
    for title, declared in groups.items():
        add_options(parser if title is None else parser.add_argument_group(title), declared)
        options.extend(declared)
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"TOML (or .json) file of settings, keys named like the flags (env "
        f"{env_name('config')}); precedence: flag > env > file > default",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective settings and where each came from (secrets masked), then exit",
    )
    parser.set_defaults(
        handler=handler,
        validate=validate,
        describe_more=describe_more,
        options=tuple(options),
        command=name,
    )
    return parser


# Exit status of a process stopped by SIGPIPE (128 + 13), what `yes | head` leaves behind.
EXIT_BROKEN_PIPE = 141


class _VersionAction(argparse.Action):
    """``--version``: the installed package's version, read only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from stream.outputs.metrics import lookout_version

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


def _all_option_names(parser: argparse.ArgumentParser) -> set[str]:
    """Every command's option names: a config file shared by commands may hold any of them."""
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 (argparse has no API)
    return {option.name for sub in commands.values() for option in sub.get_default("options")}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = resolve(args, os.environ, args.options, _all_option_names(parser))
        if args.validate is not None:
            args.validate(settings)
    except ValueError as exc:  # ConfigError is a ValueError
        print(f"lookout {args.command}: error: {exc}", file=sys.stderr)
        return 2
    if settings.print_config:
        print(describe(settings, args.options))
        for line in args.describe_more(settings) if args.describe_more else ():
            print(line)
        return 0
    try:
        code = args.handler(settings)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`lookout evaluate ... | head`): stop quietly, as Unix tools do.
        # stdout is pointed at /dev/null so the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


if __name__ == "__main__":
    sys.exit(main())

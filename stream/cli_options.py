"""Command-line options shared by every command that scores points."""

from __future__ import annotations

import argparse
import functools
from importlib import resources
from pathlib import Path

from detectors import DETECTOR_NAMES, DetectorStack

__all__ = [
    "DEMO_DATA",
    "DEMO_WINDOWS",
    "add_stack_arguments",
    "pager_from_settings",
    "stack_factory_from_args",
]

DEMO_ROOT = Path(str(resources.files("sim") / "data" / "demo"))
DEMO_DATA = DEMO_ROOT / "data"
DEMO_WINDOWS = DEMO_ROOT / "labels" / "combined_windows.json"


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """Detector stack options, shared by every command that scores points."""
    group = parser.add_argument_group("detector stack")
    defaults = DetectorStack()
    group.add_argument(
        "--detectors",
        default=",".join(defaults.detectors),
        help="comma-separated detectors combined into anomaly_score, of "
        f"{', '.join(DETECTOR_NAMES)} (default: %(default)s)",
    )
    group.add_argument(
        "--threshold",
        type=float,
        default=defaults.threshold,
        help="anomaly_score (an onset) at which an alert opens (default: %(default)s)",
    )
    group.add_argument(
        "--exit-threshold",
        type=float,
        default=defaults.exit_threshold,
        help="combined score below which a firing alert resolves (default: the threshold)",
    )
    group.add_argument(
        "--min-duration",
        type=int,
        default=defaults.min_duration,
        help="consecutive points needed to open or resolve an alert (default: %(default)s)",
    )
    group.add_argument(
        "--cooldown",
        type=int,
        default=defaults.cooldown,
        help="points after a resolution before a new alert may open (default: %(default)s)",
    )
    group.add_argument(
        "--window-size",
        type=int,
        default=defaults.window_size,
        help="rolling window of the z-score and shape features (default: %(default)s)",
    )
    group.add_argument(
        "--n-lags",
        type=int,
        default=defaults.n_lags,
        help="lagged values used by the forecaster (default: %(default)s)",
    )
    group.add_argument(
        "--grace-period",
        type=int,
        default=defaults.grace_period,
        help="points per series before any score is reported (default: %(default)s)",
    )
    group.add_argument(
        "--no-range-break",
        dest="range_break",
        action="store_false",
        help="do not let a value beyond the range of about the last 5,000 points raise the score "
        "on its own (a metric that sets new records routinely, such as a counter)",
    )
    group.add_argument(
        "--no-return-surprise",
        dest="return_is_surprise",
        action="store_false",
        help="let the time-of-day profile excuse a sudden return to the usual level right after "
        "unusual points (by default it pages: the end of a memory leak's ramp, a rollback)",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="seed of the Half-Space-Trees (default: %(default)s)",
    )


def stack_factory_from_args(args: argparse.Namespace):
    detectors = tuple(name.strip() for name in args.detectors.split(",") if name.strip())
    return functools.partial(
        DetectorStack,
        detectors=detectors,
        threshold=args.threshold,
        exit_threshold=args.exit_threshold,
        min_duration=args.min_duration,
        cooldown=args.cooldown,
        window_size=args.window_size,
        n_lags=args.n_lags,
        grace_period=args.grace_period,
        range_break=args.range_break,
        return_is_surprise=args.return_is_surprise,
        seed=args.seed,
    )


def pager_from_settings(settings: argparse.Namespace, rules, stack_factory):
    """The :class:`~stream.paging.Pager` of the alert settings (``ALERT_OPTIONS``) and the
    config file's ``rules`` section; raises ``ValueError`` (naming the rule or setting)."""
    from stream.alert_budget import AlertBudget
    from stream.alerts import LinkTemplates
    from stream.paging import Pager
    from stream.policy import Policy

    stack = stack_factory()
    policy = Policy.from_config(rules, severity=settings.alert_severity)
    links = LinkTemplates(settings.runbook_url, settings.dashboard_url)
    budget = None
    if settings.alert_budget:
        budget = AlertBudget(settings.alert_budget, stack.threshold, stack.score_decades)
    return Pager(policy, links, budget, base_threshold=stack.threshold)

"""Options shared by several commands: the detector stack's, and where the bundled data is."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from detectors import DETECTOR_NAMES, DetectorStack
from stream.cli.settings import Option

__all__ = ["DEMO_DATA", "DEMO_WINDOWS", "STACK_OPTIONS", "pager_from_settings", "stack_factory"]

DEMO_ROOT = Path(str(resources.files("sim") / "data" / "demo"))
DEMO_DATA = DEMO_ROOT / "data"
DEMO_WINDOWS = DEMO_ROOT / "labels" / "combined_windows.json"

#: The stack's defaults are the stack's own: only the help text is written here.
_DEFAULT = DetectorStack()

#: Detector stack options, shared by every command that scores points.
STACK_OPTIONS = (
    Option(
        "detectors",
        ",".join(_DEFAULT.detectors),
        f"comma-separated detectors combined into anomaly_score, of {', '.join(DETECTOR_NAMES)}",
        metavar="NAMES",
    ),
    Option(
        "threshold",
        _DEFAULT.threshold,
        "anomaly_score (an onset) at which an alert opens",
        type=float,
        metavar="SCORE",
    ),
    Option(
        "resolve_threshold",
        _DEFAULT.resolve_threshold,
        "standard deviations from the expectation frozen when an alert opened within which "
        "the series counts as back",
        type=float,
        metavar="SIGMAS",
    ),
    Option(
        "quiet_time",
        _DEFAULT.quiet_time,
        "seconds of the series' time (at least 2 samples) back near the expectation before a "
        "firing alert resolves as recovered",
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "accept_after",
        _DEFAULT.accept_after,
        "seconds of firing after which a lasting level is accepted as the new normal (the "
        "alert resolves as 'accepted new level' and the model relearns; 0: never)",
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "exit_threshold",
        _DEFAULT.exit_threshold,
        "combined score that keeps an alert open while no expectation is known yet (an "
        "alert opened during warm-up; none: the threshold)",
        type=float,
        metavar="SCORE",
    ),
    Option(
        "min_duration",
        _DEFAULT.min_duration,
        "consecutive onset points needed to open an alert",
        type=int,
        metavar="N",
    ),
    Option(
        "cooldown",
        _DEFAULT.cooldown,
        "points after a resolution before a new alert may open",
        type=int,
        metavar="N",
    ),
    Option(
        "window_size",
        _DEFAULT.window_size,
        "rolling window of the z-score and shape features",
        type=int,
        metavar="N",
    ),
    Option(
        "n_lags",
        _DEFAULT.n_lags,
        "lagged values used by the forecaster",
        type=int,
        metavar="N",
    ),
    Option(
        "grace_period",
        _DEFAULT.grace_period,
        "points per series before any score is reported",
        type=int,
        metavar="N",
    ),
    Option(
        "range_break",
        _DEFAULT.range_break,
        "let a value beyond the range of about the last 5,000 points raise the score on its own "
        "(--no-range-break for a metric that sets new records routinely, such as a counter)",
        boolean=True,
    ),
    Option(
        "return_is_surprise",
        _DEFAULT.return_is_surprise,
        "page a sudden return to the usual level right after unusual points (the end of a "
        "memory leak's ramp, a rollback); --no-return-surprise lets the time-of-day profile "
        "excuse it",
        boolean=True,
        flag_name="return_surprise",
    ),
    Option(
        "paging_interval",
        _DEFAULT.paging_interval,
        "seconds over which a score's rarity is counted: a series sampled faster must be that "
        "much rarer per point to page, so it does not page more per week (0: per point)",
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "warm_up_time",
        _DEFAULT.warm_up_time,
        "seconds of a series' time after which it may page, when that is fewer points than "
        "--grace-period (at least 24 points), and the longest quiet time after an onset "
        "(0: points only)",
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "memory_time",
        _DEFAULT.memory_time,
        "seconds of a series' time its calibrations and range remember, when longer than "
        "their 5,000 points (0: points only)",
        type=float,
        metavar="SECONDS",
    ),
    Option(
        "refractory_time",
        _DEFAULT.refractory_time,
        "seconds of a series' time whose scores an onset must beat, at any sampling "
        "interval (0: 200 points)",
        type=float,
        metavar="SECONDS",
    ),
    Option("seed", _DEFAULT.seed, "seed of the Half-Space-Trees", type=int, metavar="N"),
)


def stack_factory(settings: Mapping[str, Any]):
    """A factory of detector stacks as the settings say (``ValueError`` when they are invalid).

    >>> from stream.cli.settings import Settings
    >>> defaults = {option.name: option.default for option in STACK_OPTIONS}
    >>> stack = stack_factory(Settings({**defaults, "threshold": 0.5}))()
    >>> stack.threshold, stack.detectors == _DEFAULT.detectors
    (0.5, True)
    """
    detectors = tuple(name.strip() for name in settings["detectors"].split(",") if name.strip())
    names = {option.name for option in STACK_OPTIONS} - {"detectors"}
    factory = functools.partial(
        DetectorStack, detectors=detectors, **{name: settings[name] for name in names}
    )
    factory()  # validate before anything is read
    return factory


def pager_from_settings(settings: Mapping[str, Any], rules, stack_factory):
    """The :class:`~stream.outputs.paging.Pager` of the alert settings (``ALERT_OPTIONS``) and the
    config file's ``rules`` section; raises ``ValueError`` (naming the rule or setting)."""
    from stream.outputs.alert_budget import AlertBudget
    from stream.outputs.alerts import LinkTemplates
    from stream.outputs.paging import Pager
    from stream.outputs.policy import Policy

    stack = stack_factory()
    policy = Policy.from_config(rules, severity=settings.alert_severity)
    links = LinkTemplates(settings.runbook_url, settings.dashboard_url)
    budget = None
    if settings.alert_budget:
        budget = AlertBudget(settings.alert_budget, stack.threshold, stack.score_decades)
    return Pager(policy, links, budget, base_threshold=stack.threshold)

"""Alerting policy per series: which incidents page, at what severity, and when nobody is paged.

A :class:`Policy` is a list of :class:`Rule` (the ``[[rules]]`` of the config file, see
``docs/alerting.md``), each selecting series with Alertmanager-style matchers on the series'
labels (its point labels plus ``series``, the series id):

- ``name="value"`` (equal), ``name!="value"``, ``name=~"regex"``, ``name!~"regex"``; a regex
  matches the whole value (as in Prometheus) and a missing label is the empty string.

**Resolution**: for each setting, the *first user rule that matches* decides it if it sets it;
else the first matching built-in default for common metric names (:data:`BUILTIN_RULES`); else
the global default. So a rule that only mutes staging keeps the built-in direction of error
counters, and the first of two matching user rules wins.

Settings (:class:`Decision`):

- ``direction``: ``above``, ``below`` or ``both`` (relative to the value expected before the
  incident began);
- ``min_deviation`` / ``min_relative_deviation``: the distance from the expected value (in the
  metric's unit / as a fraction of ``|expected|``) below which an incident does not page: a
  2-point move of a CPU at 3% is not news;
- ``severity``: ``page`` or ``ticket`` (the ``severity`` label); only pages count towards the
  fleet budget (:mod:`stream.outputs.alert_budget`);
- ``threshold``: the anomaly score an incident must reach to page; it can only raise the
  detector's own ``--threshold``, below which no incident opens;
- ``mute``: windows (one-off ranges, or weekly recurring ones in a time zone) during which the
  series does not page (deploys, maintenance).

Examples
--------
>>> policy = Policy.from_config([
...     {"matchers": ['series=~"checkout_.*"', 'env="prod"'], "severity": "page",
...      "min_deviation": 0.05},
...     {"matchers": ['env="staging"'], "severity": "ticket"},
... ])
>>> policy.decide("checkout_latency_seconds", {"env": "prod"}).min_deviation
0.05
>>> decision = policy.decide("http_errors_total", {"env": "staging"})
>>> decision.severity, decision.direction, decision.rule
('ticket', 'above', 'rule 2 + builtin: errors')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "BUILTIN_RULES",
    "DIRECTIONS",
    "HELD_BACK_REASONS",
    "Decision",
    "Matcher",
    "MuteWindow",
    "Policy",
    "PolicyError",
    "Rule",
    "metric_name",
]

DIRECTIONS = ("above", "below", "both")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SETTINGS = ("direction", "min_deviation", "min_relative_deviation", "severity", "threshold")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)$")


class PolicyError(ValueError):
    """A rule that cannot be used; the message names the rule and the setting."""


def metric_name(series: str) -> str:
    """The metric name of a series id: the id up to its first ``{`` (Prometheus-style ids).

    >>> metric_name('http_requests_total{code="500"}'), metric_name("api.latency")
    ('http_requests_total', 'api.latency')
    """
    return series.split("{", 1)[0]


@dataclasses.dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher (``team="web"``, ``series=~"api_.*"``, ...).

    >>> m = Matcher.parse('series=~"api_.*_seconds"')
    >>> m.matches({"series": "api_latency_seconds"}), m.matches({"series": "db_latency_seconds"})
    (True, False)
    >>> Matcher.parse('team!=""').matches({})
    False
    """

    name: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        found = _MATCHER.match(text) if isinstance(text, str) else None
        if found is None:
            raise PolicyError(f"matcher {text!r} is not name=value, !=, =~ or !~")
        name, op, raw = found.groups()
        if raw.startswith('"'):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                raise PolicyError(f"matcher {text!r}: badly quoted value") from None
            if not isinstance(value, str):
                raise PolicyError(f"matcher {text!r}: badly quoted value")
        else:
            value = raw
        matcher = cls(name, op, value)
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise PolicyError(f"matcher {text!r}: bad regex ({exc})") from None
        return matcher

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = re.fullmatch(self.value, value) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value)}"


def _epoch(value: Any, where: str) -> float:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PolicyError(f"{where}: {value!r} is not an RFC 3339 time") from None
    else:
        raise PolicyError(f"{where}: {value!r} is not a time")
    if moment.tzinfo is None:
        raise PolicyError(f"{where}: {value!r} has no time zone (add Z or +hh:mm)")
    return moment.timestamp()


def _minutes(value: Any, where: str) -> int:
    if isinstance(value, dt.time):
        return value.hour * 60 + value.minute
    found = _CLOCK.match(str(value))
    if found is None:
        raise PolicyError(f"{where}: {value!r} is not HH:MM")
    return int(found.group(1)) * 60 + int(found.group(2))


@dataclasses.dataclass(frozen=True, slots=True)
class MuteWindow:
    """When a series does not page: a one-off range (``start``, ``end``: epoch seconds) or a
    weekly window (``weekdays`` it starts on, ``start_minute``/``end_minute`` of the day in
    ``timezone``; an end before the start runs past midnight).

    >>> deploys = MuteWindow.from_config(
    ...     {"weekdays": ["tue", "thu"], "from": "22:00", "to": "01:00", "timezone": "UTC"}, "")
    >>> tuesday_23h, wednesday_00h30, wednesday_02h = 1714518000.0, 1714523400.0, 1714528800.0
    >>> deploys.covers(tuesday_23h - 7 * 3600), deploys.covers(wednesday_00h30)
    (False, True)
    >>> deploys.covers(wednesday_02h)
    False
    >>> MuteWindow.from_config({"start": "2024-05-01T02:00:00Z",
    ...                         "end": "2024-05-01T03:00:00Z"}, "").covers(1714530600.0)
    True
    """

    start: float | None = None
    end: float | None = None
    weekdays: tuple[int, ...] = ()
    start_minute: int = 0
    end_minute: int = 0
    timezone: str = "UTC"

    @classmethod
    def from_config(cls, entry: Any, where: str) -> MuteWindow:
        if not isinstance(entry, Mapping):
            raise PolicyError(f"{where}: a mute window is a table")
        keys = set(entry)
        if keys <= {"start", "end"} and keys:
            if keys != {"start", "end"}:
                raise PolicyError(f"{where}: a one-off mute window needs start and end")
            start, end = _epoch(entry["start"], where), _epoch(entry["end"], where)
            if not end > start:
                raise PolicyError(f"{where}: mute window ends before it starts")
            return cls(start=start, end=end)
        unknown = keys - {"weekdays", "from", "to", "timezone"}
        if unknown or not {"from", "to"} <= keys:
            raise PolicyError(
                f"{where}: a mute window has start and end, or from, to (HH:MM) and optional "
                f"weekdays and timezone; got {sorted(keys)}"
            )
        days = entry.get("weekdays", list(WEEKDAYS))
        if isinstance(days, str) or not all(str(d).lower()[:3] in WEEKDAYS for d in days):
            raise PolicyError(f"{where}: weekdays must be a list of {', '.join(WEEKDAYS)}")
        timezone = str(entry.get("timezone", "UTC"))
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise PolicyError(f"{where}: unknown time zone {timezone!r}") from None
        start_minute = _minutes(entry["from"], where)
        end_minute = _minutes(entry["to"], where)
        if start_minute == end_minute:
            raise PolicyError(f"{where}: mute window from and to are equal")
        weekdays = tuple(sorted({WEEKDAYS.index(str(d).lower()[:3]) for d in days}))
        return cls(weekdays=weekdays, start_minute=start_minute, end_minute=end_minute,
                   timezone=timezone)  # fmt: skip

    def covers(self, timestamp: float) -> bool:
        if self.start is not None:
            return self.start <= timestamp < self.end
        local = dt.datetime.fromtimestamp(timestamp, zoneinfo.ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start_minute < self.end_minute:
            return day in self.weekdays and self.start_minute <= minute < self.end_minute
        # past midnight: the evening of a listed day, or the morning after it
        return (day in self.weekdays and minute >= self.start_minute) or (
            (day - 1) % 7 in self.weekdays and minute < self.end_minute
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """Matchers and the settings they set (None: not set by this rule)."""

    name: str
    matchers: tuple[Matcher, ...]
    direction: str | None = None
    min_deviation: float | None = None
    min_relative_deviation: float | None = None
    severity: str | None = None
    threshold: float | None = None
    mute: tuple[MuteWindow, ...] = ()

    @classmethod
    def from_config(cls, entry: Any, index: int) -> Rule:
        if not isinstance(entry, Mapping):
            raise PolicyError(f"rules[{index}] is not a table")
        name = str(entry.get("name", f"rule {index + 1}"))
        where = f"rule {name!r}"
        unknown = set(entry) - {"name", "matchers", "mute", *_SETTINGS}
        if unknown:
            raise PolicyError(f"{where}: unknown setting(s) {sorted(unknown)}")
        matchers = entry.get("matchers", [])
        if isinstance(matchers, str) or not isinstance(matchers, Sequence):
            raise PolicyError(f"{where}: matchers must be a list of strings")
        try:
            parsed = tuple(Matcher.parse(text) for text in matchers)
        except PolicyError as exc:
            raise PolicyError(f"{where}: {exc}") from None
        settings: dict[str, Any] = {}
        direction = entry.get("direction")
        if direction is not None and direction not in DIRECTIONS:
            raise PolicyError(f"{where}: direction must be one of {list(DIRECTIONS)}")
        settings["direction"] = direction
        for key in ("min_deviation", "min_relative_deviation", "threshold"):
            value = entry.get(key)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise PolicyError(f"{where}: {key} must be a number >= 0")
                settings[key] = float(value)
        severity = entry.get("severity")
        if severity is not None and not (isinstance(severity, str) and severity):
            raise PolicyError(f"{where}: severity must be a non-empty string (page, ticket)")
        settings["severity"] = severity
        mutes = entry.get("mute", [])
        if isinstance(mutes, Mapping):
            mutes = [mutes]
        mute = tuple(MuteWindow.from_config(m, f"{where} mute[{i}]") for i, m in enumerate(mutes))
        return cls(name, parsed, mute=mute, **settings)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(matcher.matches(labels) for matcher in self.matchers)


def _builtin(name: str, pattern: str, **settings: Any) -> Rule:
    return Rule(name, (Matcher("__name__", "=~", pattern),), **settings)


#: Defaults for common metric names (matched on the metric name, the series id up to ``{``);
#: see docs/alerting.md. A user rule that sets a setting overrides them.
BUILTIN_RULES = (
    _builtin("builtin: up", r"up", direction="below"),
    _builtin(
        "builtin: errors",
        r".*(_errors?|_failures?|_failed)(_total|_rate|_ratio)?",
        direction="above",
    ),
    _builtin(
        "builtin: latency",
        r".*(_latency|_duration)(_seconds|_milliseconds|_ms)?(_bucket|_sum|_p\d+)?",
        direction="above",
    ),
    _builtin("builtin: ratio", r".*_ratio", min_deviation=0.02),
    _builtin("builtin: percent", r".*_percent", min_deviation=2.0),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """The resolved policy of a series (see the module docstring)."""

    direction: str = "both"
    min_deviation: float = 0.0
    min_relative_deviation: float = 0.0
    severity: str = "page"
    threshold: float = 0.0
    mute: tuple[MuteWindow, ...] = ()
    rule: str = "default"

    def muted(self, timestamp: float) -> bool:
        return any(window.covers(timestamp) for window in self.mute)

    def holds_back(self, value: float, expected: float, score: float, timestamp: float) -> str:
        """Why an incident at this point does not page (``""``: it pages). ``expected`` is
        the value expected before the incident began; ``score`` its peak anomaly score.

        >>> Decision(direction="above", min_deviation=2.0).holds_back(5.0, 3.0, 0.9, 0.0)
        ''
        >>> Decision(direction="above", min_deviation=2.0).holds_back(4.0, 3.0, 0.9, 0.0)
        'min_deviation'
        >>> Decision(direction="above").holds_back(1.0, 3.0, 0.9, 0.0)
        'direction'
        """
        if self.muted(timestamp):
            return "muted"
        if score < self.threshold:
            return "threshold"
        if expected != expected:  # warming up: nothing to compare with, only the score counts
            return ""
        deviation = value - expected
        if (self.direction == "above" and deviation <= 0) or (
            self.direction == "below" and deviation >= 0
        ):
            return "direction"
        if abs(deviation) < self.min_deviation:
            return "min_deviation"
        if abs(deviation) < self.min_relative_deviation * abs(expected):
            return "min_relative_deviation"
        return ""


#: Reasons an incident was held back, as counted (a fixed set: bounded metric labels).
HELD_BACK_REASONS = (
    "muted",
    "threshold",
    "direction",
    "min_deviation",
    "min_relative_deviation",
    "budget",
)


class Policy:
    """The rules of a config file, resolved per series (see the module docstring).

    Parameters
    ----------
    rules
        User rules, first match first.
    default
        The global defaults (its ``severity``: ``--alert-severity``).
    builtins
        Defaults for common metric names, after the user rules (:data:`BUILTIN_RULES`).
    """

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        default: Decision = Decision(),
        builtins: Sequence[Rule] = BUILTIN_RULES,
    ):
        self.rules = tuple(rules)
        self.default = default
        self.builtins = tuple(builtins)

    @classmethod
    def from_config(
        cls, entries: Any, severity: str = "page", builtins: Sequence[Rule] = BUILTIN_RULES
    ) -> Policy:
        """A policy from the ``rules`` list of a config file (tables as dicts)."""
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise PolicyError("rules must be a list of tables ([[rules]] in TOML)")
        rules = [Rule.from_config(entry, index) for index, entry in enumerate(entries)]
        return cls(rules, Decision(severity=severity), builtins)

    def decide(self, series: str, labels: Mapping[str, str] | None = None) -> Decision:
        """The settings of ``series`` with point labels ``labels``."""
        view = {**(labels or {}), "series": series, "__name__": metric_name(series)}
        user = next((rule for rule in self.rules if rule.matches(view)), None)
        builtin = next((rule for rule in self.builtins if rule.matches(view)), None)
        settings: dict[str, Any] = {}
        for key in _SETTINGS:
            for source in (user, builtin):
                value = getattr(source, key) if source is not None else None
                if value is not None:
                    settings[key] = value
                    break
            else:
                settings[key] = getattr(self.default, key)
        names = [rule.name for rule in (user, builtin) if rule is not None]
        mute = user.mute if user is not None else ()
        return Decision(**settings, mute=mute, rule=" + ".join(names) or "default")

    def describe(self) -> list[str]:
        """One line per rule, for logs and ``--print-config``."""
        return [
            f"{rule.name}: {{{', '.join(str(m) for m in rule.matchers)}}}" for rule in self.rules
        ]

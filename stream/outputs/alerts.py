"""Alert events: what leaves Lookout when an incident pages or ends, and how it reads.

An :class:`AlertEvent` carries the numbers (value, the value expected before the incident began
and its band, the peak, the detectors that agreed) and the text a person reads at 3 AM:
``summary`` and ``description`` (:func:`explain`), in the metric's unit when its name says it
(:func:`unit_of`), and ``runbook_url`` / ``dashboard_url`` from :class:`LinkTemplates`. The same
fields go to ``alerts.jsonl``, the alerts topic, the webhook and Alertmanager's annotations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import string
import urllib.parse
from collections.abc import Mapping

from detectors import AlertStatus, Assessment
from stream.point import format_timestamp

__all__ = [
    "AlertEvent",
    "LinkTemplates",
    "Unit",
    "alert_id",
    "event_id",
    "EVENT_SEQUENCE",
    "explain",
    "format_duration",
    "unit_of",
]

#: The place of each event in its incident: it opens (1), then resolves (2).
EVENT_SEQUENCE = {AlertStatus.FIRING.value: 1, AlertStatus.RESOLVED.value: 2}


def alert_id(series: str, start: float) -> str:
    """Deterministic id of an incident: the same series and start give the same id, so a
    re-processed batch updates an alert instead of paging twice.

    >>> alert_id("cpu", 0.0) == alert_id("cpu", 0.0) != alert_id("cpu", 60.0)
    True
    """
    return hashlib.sha1(f"{series}\x00{start!r}".encode()).hexdigest()[:16]


def event_id(alert_id: str, status: str) -> str:
    """The idempotency key of an alert event: its incident, its place in the incident and its
    status. A re-delivered event (at-least-once outputs, a crash's replay) has the same key, so
    a consumer keeps the first event of each key and drops the repeats (docs/live.md).

    >>> event_id("0123456789abcdef", "resolved")
    '0123456789abcdef-2-resolved'
    """
    return f"{alert_id}-{EVENT_SEQUENCE[status]}-{status}"


@dataclasses.dataclass(frozen=True, slots=True)
class AlertEvent:
    """An incident paging (``firing``) or ending (``resolved``).

    ``value`` and ``at`` are the point of the event; ``expected``, ``lower`` and ``upper`` the
    value expected when the incident began and its band; ``peak_value``/``peak_value_at`` the
    point furthest from it so far, ``peak_score``/``peak_at`` the highest anomaly score;
    ``detectors`` those that agreed at any point of the incident (so far). ``severity`` and
    ``rule`` come from the policy (:mod:`stream.outputs.policy`). A resolved event says why in
    ``resolve_reason``: ``"recovered"`` (the value came back to the expectation) or ``"accepted
    new level"`` (it stayed away long enough to be the new normal, see
    :mod:`detectors.parts.alert`).
    """

    alert_id: str
    series: str
    status: str
    start: float
    end: float | None
    peak_score: float
    peak_at: float
    at: float
    value: float
    expected: float
    lower: float
    upper: float
    anomaly_score: float
    detectors: tuple[str, ...]
    severity: str = ""  # "": not given by a policy (an alert sink then sets its own)
    rule: str = "default"
    peak_value: float = math.nan
    peak_value_at: float | None = None
    summary: str = ""
    description: str = ""
    runbook_url: str = ""
    dashboard_url: str = ""
    resolve_reason: str = ""  # resolved: "recovered" or "accepted new level"

    @classmethod
    def from_assessment(cls, series: str, assessment: Assessment) -> AlertEvent:
        """The event of a detector's transition alone (no policy, no incident history)."""
        transition = assessment.transition
        if transition is None:
            raise ValueError("assessment has no alert transition")
        return cls(
            alert_id=alert_id(series, transition.start),
            series=series,
            status=transition.status.value,
            start=transition.start,
            end=transition.end,
            peak_score=transition.peak_score,
            peak_at=transition.peak_at,
            at=assessment.timestamp,
            value=assessment.value,
            expected=assessment.expected,
            lower=assessment.lower,
            upper=assessment.upper,
            anomaly_score=assessment.anomaly_score,
            detectors=assessment.agreeing,
            resolve_reason=transition.reason,
        ).explained()

    @property
    def firing(self) -> bool:
        return self.status == AlertStatus.FIRING.value

    def explained(self) -> AlertEvent:
        """This event with its ``summary`` and ``description`` written (:func:`explain`)."""
        summary, description = explain(self)
        return dataclasses.replace(self, summary=summary, description=description)

    @property
    def event_id(self) -> str:
        return event_id(self.alert_id, self.status)

    @property
    def sequence(self) -> int:
        return EVENT_SEQUENCE[self.status]

    def to_dict(self) -> dict:
        """JSON-ready form with RFC 3339 times; NaN becomes null."""
        # Every field is flat: a shallow copy (asdict deep-copies each value, 0.5 ms an event)
        out = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        for key in ("start", "end", "peak_at", "at", "peak_value_at"):
            if out[key] is not None:
                out[key] = format_timestamp(out[key])
        for key in (
            "value", "expected", "lower", "upper", "anomaly_score", "peak_score", "peak_value"
        ):  # fmt: skip
            if out[key] != out[key]:
                out[key] = None
        out["detectors"] = list(self.detectors)
        out["event_id"] = self.event_id
        out["sequence"] = self.sequence
        return out


# --- units -----------------------------------------------------------------------------------

_SUFFIXES_DROPPED = ("_total", "_sum", "_max", "_min", "_avg", "_mean", "_bucket")


@dataclasses.dataclass(frozen=True, slots=True)
class Unit:
    """How the values of a metric read: ``seconds``, ``milliseconds``, ``bytes``, ``ratio``
    (0-1, shown in %), ``percent`` or ``""`` (a plain number).

    >>> seconds = Unit("seconds")
    >>> seconds.format(0.84), seconds.format(2.5), seconds.format(5400.0)
    ('840 ms', '2.5 s', '1.5 h')
    >>> Unit("bytes").format(3 * 2**30), Unit("ratio").format(0.125), Unit("").format(1234.5)
    ('3 GiB', '12.5%', '1,234')
    >>> seconds.format_range(0.16, 0.26, like=0.21)
    '160-260'
    """

    kind: str = ""

    def scale(self, magnitude: float) -> tuple[float, str]:
        """``(divisor, suffix)`` that shows ``magnitude`` best."""
        x = abs(magnitude) if magnitude == magnitude else 0.0
        if self.kind in ("seconds", "milliseconds"):
            x = x / 1000 if self.kind == "milliseconds" else x
            base = 1000.0 if self.kind == "milliseconds" else 1.0
            for divisor, suffix in ((3600.0, " h"), (60.0, " min"), (1.0, " s"), (1e-3, " ms")):
                if x >= divisor * (1.5 if divisor >= 60 else 1.0):
                    return divisor * base, suffix
            return 1e-6 * base, " µs"
        if self.kind == "bytes":
            for power, suffix in ((4, " TiB"), (3, " GiB"), (2, " MiB"), (1, " KiB")):
                if x >= 1024.0**power:
                    return 1024.0**power, suffix
            return 1.0, " B"
        if self.kind == "ratio":
            return 0.01, "%"
        if self.kind == "percent":
            return 1.0, "%"
        return 1.0, ""

    def format(self, value: float) -> str:
        divisor, suffix = self.scale(value)
        return _number(value / divisor) + suffix

    def format_range(self, lower: float, upper: float, like: float) -> str:
        """``lower-upper`` in the scale of ``like`` (the expected value), without the unit."""
        divisor, _ = self.scale(like)
        return f"{_number(lower / divisor)}-{_number(upper / divisor)}"


def unit_of(series: str) -> Unit:
    """The unit a metric's name declares (Prometheus naming: a base-unit suffix).

    >>> unit_of("http_request_duration_seconds_sum").kind, unit_of("node_memory_bytes").kind
    ('seconds', 'bytes')
    >>> unit_of("cpu_usage_percent").kind, unit_of("api.latency").kind
    ('percent', '')
    """
    name = series.split("{", 1)[0].lower()
    for suffix in _SUFFIXES_DROPPED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    for suffix, kind in (
        ("_seconds", "seconds"),
        ("_milliseconds", "milliseconds"),
        ("_ms", "milliseconds"),
        ("_bytes", "bytes"),
        ("_ratio", "ratio"),
        ("_percent", "percent"),
        ("_pct", "percent"),
    ):
        if name.endswith(suffix):
            return Unit(kind)
    return Unit("")


def _number(x: float) -> str:
    """Three significant digits, no exponent for everyday magnitudes.

    >>> _number(840.0), _number(0.25), _number(4.0), _number(123456.7), _number(float("nan"))
    ('840', '0.25', '4', '123,457', 'NaN')
    """
    if x != x:
        return "NaN"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    text = f"{x:.3g}"
    if "e" in text:
        return f"{x:.2e}"
    return text


# --- text ------------------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """A duration as people say it.

    >>> format_duration(42), format_duration(300), format_duration(8100), format_duration(90000)
    ('42 s', '5 min', '2 h 15 min', '1 d 1 h')
    """
    seconds = max(0, int(round(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _clock(seconds: float, since: float | None = None) -> str:
    """``HH:MM UTC``, with the date when it is not that of ``since``."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    if since is not None and dt.datetime.fromtimestamp(since, dt.UTC).date() != moment.date():
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%H:%M UTC")


def _ratio(value: float, expected: float) -> str:
    if not (expected > 0 and value >= 0):
        return ""
    ratio = value / expected
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"


def _deviation(unit: Unit, value: float, expected: float) -> str:
    deviation = value - expected
    sign = "+" if deviation >= 0 else "-"
    text = sign + unit.format(abs(deviation))
    ratio = _ratio(value, expected)
    return f"{text} ({ratio})" if ratio else text


def explain(event: AlertEvent) -> tuple[str, str]:
    r"""The ``summary`` and ``description`` of an event.

    Firing: the point now against what was expected before the incident began; resolved: the
    incident as a whole (its start, end, peak and the detectors that agreed during it), not the
    point that resolved it.

    Examples
    --------
    >>> firing = AlertEvent("id", "api_latency_seconds", "firing", 1714529640.0, None, 0.93,
    ...     1714529640.0, 1714530000.0, 0.84, 0.21, 0.16, 0.26, 0.0, ("forecast", "hst"),
    ...     severity="page", peak_value=0.91, peak_value_at=1714529880.0)
    >>> summary, description = explain(firing)
    >>> summary
    'api_latency_seconds 840 ms, expected 210 ms (160-260), since 02:14 UTC, 4.0x'
    >>> print(description.replace(". ", ".\n").replace(": ", ":\n").replace(", e", ",\ne"))
    api_latency_seconds is above the value expected since 2024-05-01T02:14:00Z (6 min):
    840 ms at 02:20 UTC,
    expected 210 ms (band 160-260 ms), +630 ms (4.0x).
    Peak so far 910 ms at 02:18 UTC; anomaly score peak 0.93.
    Detectors that agreed:
    forecast, hst.
    Severity page (policy:
    default).
    """
    unit = unit_of(event.series)
    expected = event.expected
    known = expected == expected
    band = ""
    if known and event.lower == event.lower:
        band = unit.format_range(event.lower, event.upper, like=expected)
    peak = event.peak_value if event.peak_value == event.peak_value else event.value
    peak_at = event.peak_value_at if event.peak_value_at is not None else event.at
    side = "above" if known and peak >= expected else "below"
    detectors = ", ".join(event.detectors) or "none alone (the combined score)"
    if known:
        expectation = f"expected {unit.format(expected)}" + (f" ({band})" if band else "")
    else:
        expectation = "no expected value yet (warming up)"
    if event.firing:
        now = event.value
        since = _clock(event.start, event.at)
        summary = f"{event.series} {unit.format(now)}, {expectation}, since {since}"
        ratio = _ratio(now, expected) if known else ""
        summary += f", {ratio}" if ratio else ""
        head = (
            f"{event.series} is {side} the value expected since {format_timestamp(event.start)}"
            f" ({format_duration(event.at - event.start)})"
            if known
            else f"{event.series} is anomalous since {format_timestamp(event.start)}"
        )
        description = f"{head}: {unit.format(now)} at {_clock(event.at, event.start)}, "
        description += _band_text(unit, expected, event.lower, event.upper, known, band)
        if known:
            description += f", {_deviation(unit, now, expected)}"
        description += (
            f". Peak so far {unit.format(peak)} at {_clock(peak_at, event.start)}; anomaly "
            f"score peak {event.peak_score:.2f}. Detectors that agreed: {detectors}. "
            f"{_policy_text(event)}."
        )
        return summary, description
    end = event.end if event.end is not None else event.at
    lasted = format_duration(end - event.start)
    why = f" ({event.resolve_reason})" if event.resolve_reason else ""
    summary = (
        f"{event.series} resolved{why} after {lasted}: peak {unit.format(peak)} at "
        f"{_clock(peak_at, event.start)}, {expectation}, {_clock(event.start)}-"
        f"{_clock(end, event.start)}"
    )
    head = f"{event.series} was " + (f"{side} the value expected" if known else "anomalous")
    description = (
        f"{head} from {format_timestamp(event.start)} to {format_timestamp(end)} ({lasted}). "
        f"Peak {unit.format(peak)} at {_clock(peak_at, event.start)}, "
        + _band_text(unit, expected, event.lower, event.upper, known, band)
        + (f", {_deviation(unit, peak, expected)}" if known else "")
        + f"; anomaly score peak {event.peak_score:.2f}. Detectors that agreed during it: "
        f"{detectors}. {_resolution_text(unit, event)}. {_policy_text(event)}."
    )
    return summary, description


def _resolution_text(unit: Unit, event: AlertEvent) -> str:
    now = f"{unit.format(event.value)} at {_clock(event.at, event.start)}"
    if event.resolve_reason == "accepted new level":
        return (
            f"Accepted as the new normal after {format_duration(event.at - event.start)} away "
            f"from the expected value ({now}): the model learns the new level from here"
        )
    return f"Back at {now}"


def _policy_text(event: AlertEvent) -> str:
    if event.severity:
        return f"Severity {event.severity} (policy: {event.rule})"
    return f"Policy: {event.rule}"


def _band_text(unit: Unit, expected: float, lower: float, upper: float, known: bool, band: str):
    if not known:
        return "no expected value yet (warming up)"
    text = f"expected {unit.format(expected)}"
    if band:
        _, suffix = unit.scale(expected)
        text += f" (band {band}{suffix})"
    return text


# --- links -----------------------------------------------------------------------------------


class _Fields(dict):
    def __missing__(self, key: str) -> str:  # a label the series does not have: empty
        return ""


@dataclasses.dataclass(frozen=True, slots=True)
class LinkTemplates:
    """``runbook_url`` and ``dashboard_url`` of an alert, from templates with ``{series}`` and
    ``{label_name}`` fields (URL-encoded; a label the series lacks is empty).

    >>> links = LinkTemplates(runbook="https://runbooks.example/{team}/{series}")
    >>> links.render("api latency", {"team": "web"})
    ('https://runbooks.example/web/api%20latency', '')
    """

    runbook: str = ""
    dashboard: str = ""

    def __post_init__(self) -> None:
        for name, template in (("runbook_url", self.runbook), ("dashboard_url", self.dashboard)):
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
            except ValueError as exc:
                raise ValueError(f"{name} template {template!r}: {exc}") from None
            for field in fields:
                if not field.isidentifier():
                    raise ValueError(
                        f"{name} template {template!r}: {{{field}}} is not a label name"
                    )

    def render(self, series: str, labels: Mapping[str, str]) -> tuple[str, str]:
        fields = _Fields(
            {name: urllib.parse.quote(value, safe="") for name, value in labels.items()}
        )
        fields["series"] = urllib.parse.quote(series, safe="")
        return self.runbook.format_map(fields), self.dashboard.format_map(fields)

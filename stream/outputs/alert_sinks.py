"""Where alert events go: the alerts Kafka topic, Alertmanager, and a generic webhook.

Every sink has ``send(alerts, now)`` (the alerts of one batch, ``now`` in epoch seconds),
``tick(now)`` (called every loop: re-sends and retries) and ``close(now)`` (a last attempt).
HTTP sinks never raise on a failed request: they keep what was not delivered, retry with
backoff, and report each failure to ``on_failure``. The Kafka sink only queues into the runner's
producer, whose flush before the offset commit is what makes its delivery at-least-once.

Alertmanager (``POST /api/v2/alerts``) gets one alert per series with stable labels
``alertname``, ``series``, ``severity`` (the policy's, :mod:`stream.outputs.policy`) plus the
point's
own labels (:func:`alert_labels`), the event's ``summary``, ``description``, ``runbook_url``,
``dashboard_url`` and numbers in annotations (a resolved alert's ``resolve_reason`` too), and
``startsAt`` at the incident's start. Like
Prometheus, Lookout re-sends a firing alert every ``resend_interval`` with ``endsAt`` four
intervals ahead, so an alert whose sender died resolves by itself; a resolved alert is sent once
more with its ``endsAt``.

Both HTTP sinks authenticate with :class:`HttpAuth` (basic auth or a bearer token; user info in
the URL also becomes basic auth). Credentials never appear in log lines or error messages, and
redirects are not followed, so an ``Authorization`` header only ever goes to the configured host.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from stream.outputs.alerts import AlertEvent
from stream.point import format_timestamp

if TYPE_CHECKING:  # for annotations only: outputs do not depend on the runtime
    from stream.runtime.kafka_io import Producer

__all__ = [
    "ALERTNAME",
    "Alert",
    "AlertSink",
    "AlertDeliveryError",
    "HttpAuth",
    "KafkaAlertSink",
    "AlertmanagerSink",
    "WebhookSink",
    "alert_document",
    "alert_labels",
    "alertmanager_alert",
    "post_json",
]

log = logging.getLogger(__name__)

ALERTNAME = "LookoutAnomaly"
# Alertmanager keeps an alert firing until its endsAt; this many re-send intervals of silence
# mean the sender is gone (Prometheus uses the same factor).
LEASE_INTERVALS = 4
FIRST_RETRY = 1.0


class AlertDeliveryError(Exception):
    """An HTTP alert sink could not deliver; the message names the URL without credentials."""


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    """An alert event and the labels of the point that caused it."""

    event: AlertEvent
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


class AlertSink(Protocol):
    """``keeps_state`` (optional, default False): the receiver keeps a state per alert (as
    Alertmanager does) rather than a stream of events; after a restore such a sink gets each
    series' net state once the replay is over, by ``resume(alerts, now)`` (see
    ``Runner._start_replay``), and ``release(series, now)`` when its series go to another
    process."""

    name: str

    def send(self, alerts: Sequence[Alert], now: float) -> None: ...

    def adopt(self, alerts: Sequence[Alert], now: float) -> None:
        """Alerts found still firing in restored state (after a restart or a rebalance): a
        sink that keeps a receiver's view of what fires takes them over; event streams, which
        sent them already, ignore them."""

    def tick(self, now: float) -> None: ...

    def close(self, now: float) -> None: ...


def alert_document(alert: Alert) -> dict:
    """The JSON document of an alert on the alerts topic and the webhook: the event's fields
    (RFC 3339 times; ``event_id``, the idempotency key, and ``sequence``) and the point's
    ``labels``."""
    document = alert.event.to_dict()
    document["labels"] = dict(alert.labels)
    return document


class KafkaAlertSink:
    """Queues each alert event on ``topic`` keyed by series; the runner flushes before commit."""

    name = "kafka"

    def __init__(self, producer: Producer, topic: str):
        self.producer = producer
        self.topic = topic

    def send(self, alerts: Sequence[Alert], now: float) -> None:
        for alert in alerts:
            self.producer.send(
                self.topic, alert.event.series.encode(), orjson.dumps(alert_document(alert))
            )

    def adopt(self, alerts: Sequence[Alert], now: float) -> None:
        """Nothing: the topic holds the firing event already."""

    def tick(self, now: float) -> None:
        pass

    def close(self, now: float) -> None:
        pass


@dataclasses.dataclass(frozen=True, slots=True)
class HttpAuth:
    """Credentials of an HTTP sink: basic auth (``username``, ``password``) or a bearer token.

    The secrets are left out of ``repr``.

    Examples
    --------
    >>> HttpAuth(bearer_token="s3cret")
    HttpAuth(username=None)
    >>> HttpAuth("lookout", "pa55").authorization()
    'Basic bG9va291dDpwYTU1'
    >>> HttpAuth(bearer_token="s3cret").authorization()
    'Bearer s3cret'
    """

    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    bearer_token: str | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.bearer_token and (self.username or self.password):
            raise ValueError("give basic auth (username, password) or a bearer token, not both")
        if self.password and not self.username:
            raise ValueError("a basic auth password needs a username")

    def authorization(self) -> str | None:
        """The ``Authorization`` header value, or None without credentials."""
        if self.bearer_token:
            return f"Bearer {self.bearer_token}"
        if self.username:
            credentials = f"{self.username}:{self.password or ''}"
            return "Basic " + base64.b64encode(credentials.encode()).decode()
        return None

    @classmethod
    def from_settings(cls, settings: Any, sink: str) -> HttpAuth | None:
        """The credentials of ``sink`` (``"alertmanager"`` or ``"webhook"``) from the settings
        ``<sink>_url``, ``<sink>_username``, ``<sink>_password``, ``<sink>_bearer_token``; None
        when there are none. Raises ``ValueError`` (naming settings, never values) when they
        contradict each other.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> settings = SimpleNamespace(webhook_url="https://hooks", webhook_username=None,
        ...                            webhook_password=None, webhook_bearer_token="t0k")
        >>> HttpAuth.from_settings(settings, "webhook").authorization()
        'Bearer t0k'
        """
        url = getattr(settings, f"{sink}_url", "") or ""
        username = getattr(settings, f"{sink}_username", None) or None
        password = getattr(settings, f"{sink}_password", None) or None
        token = getattr(settings, f"{sink}_bearer_token", None) or None
        if not (username or password or token):
            return None
        if urllib.parse.urlsplit(url).username is not None:
            raise ValueError(
                f"--{sink}-url has user info and --{sink}-username/-password/-bearer-token are "
                "set: give the credentials one way"
            )
        try:
            return cls(username, password, token)
        except ValueError as exc:
            raise ValueError(f"{sink} credentials: {exc}") from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would carry the Authorization header to wherever it points.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _warn_if_cleartext(sink: str, url: str, auth: HttpAuth | None) -> None:
    parts = urllib.parse.urlsplit(url)
    has_credentials = auth is not None or parts.username is not None
    if has_credentials and parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        log.warning("%s: credentials are sent over plain http to %s", sink, parts.hostname)


def post_json(
    url: str,
    document: object,
    timeout: float,
    auth: HttpAuth | None = None,
    idempotency_key: str | None = None,
) -> None:
    """POST ``document`` as JSON; ``auth``, or user info in ``url``, authenticates the request;
    ``idempotency_key`` goes in an ``Idempotency-Key`` header.

    Redirects are not followed (a 3xx answer is an error).

    Raises
    ------
    AlertDeliveryError
        On a connection error, a timeout or a non-2xx answer; the message names the URL
        without its user info.
    """
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json", "User-Agent": "lookout"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    if parts.username is not None:
        auth = HttpAuth(
            urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
        )
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    authorization = auth.authorization() if auth is not None else None
    if authorization is not None:
        headers["Authorization"] = authorization
    shown = urllib.parse.urlunsplit(parts)
    request = urllib.request.Request(
        shown, data=orjson.dumps(document), headers=headers, method="POST"
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()[:200].decode(errors="replace")
        raise AlertDeliveryError(f"POST {shown}: HTTP {exc.code} {body}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise AlertDeliveryError(f"POST {shown}: {exc}") from exc


def _number(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{x:.6g}"


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RESERVED = ("alertname", "series", "severity")


def alert_labels(alert: Alert, default_severity: str) -> dict[str, str]:
    """The Alertmanager labels of ``alert``: the series' own labels (those with a valid
    Prometheus name, not reserved ``__*``, string values), then ``alertname``, ``series`` and
    ``severity`` (the event's, from the policy; ``default_severity`` for an event without
    one), which win over labels of the same names.

    >>> from stream.outputs.alerts import AlertEvent
    >>> event = AlertEvent("id", "api", "firing", 0.0, None, 0.9, 0.0, 0.0, 1.0, 0.5, 0.4, 0.6,
    ...                    0.9, (), severity="ticket")
    >>> alert_labels(Alert(event, {"team": "web", "severity": "x", "bad-name": "y"}), "page")
    {'team': 'web', 'alertname': 'LookoutAnomaly', 'series': 'api', 'severity': 'ticket'}
    """
    labels = {
        name: value
        for name, value in alert.labels.items()
        if isinstance(name, str)
        and isinstance(value, str)
        and _LABEL_NAME.fullmatch(name)
        and not name.startswith("__")
        and name not in _RESERVED
    }
    labels.update(
        alertname=ALERTNAME,
        series=alert.event.series,
        severity=alert.event.severity or default_severity,
    )
    return labels


def alertmanager_alert(
    alert: Alert,
    severity: str,
    now: float,
    lease: float,
    labels: Mapping[str, str] | None = None,
    unannounced_for: float = 0.0,
) -> dict:
    """The ``POST /api/v2/alerts`` item of ``alert`` at epoch time ``now``.

    A firing alert ends ``lease`` seconds from now unless re-sent; a resolved one ends at the
    incident's end (never later than now, so that it is resolved at once), unless Alertmanager
    never heard of it firing: then it ends ``unannounced_for`` seconds from now (when that is
    not 0), firing until then. Alertmanager notifies nobody of an alert it only ever saw
    resolved, so an incident that opened and resolved between two deliveries (a catch-up
    batch, a short outage of Alertmanager) would otherwise page no one. ``labels`` overrides
    the label set, so a resolution matches the labels its firing was sent with; without it the
    labels are :func:`alert_labels` (``severity``: the event's, else the sink's).

    Examples
    --------
    >>> from stream.outputs.alerts import AlertEvent
    >>> event = AlertEvent("id", "api.latency", "firing", 60.0, None, 0.9, 60.0, 60.0,
    ...                    250.0, 100.0, 80.0, 120.0, 0.9, ("zscore", "forecast"))
    >>> item = alertmanager_alert(Alert(event, {"team": "web"}), "page", now=120.0, lease=240)
    >>> item["labels"]
    {'team': 'web', 'alertname': 'LookoutAnomaly', 'series': 'api.latency', 'severity': 'page'}
    >>> item["startsAt"], item["endsAt"], item["annotations"]["value"]
    ('1970-01-01T00:01:00Z', '1970-01-01T00:06:00Z', '250')
    >>> item["annotations"]["summary"]
    'api.latency 250, expected 100 (80-120), since 00:01 UTC, 2.5x'
    >>> over = AlertEvent("id2", "api.latency", "resolved", 60.0, 90.0, 0.9, 60.0, 60.0,
    ...                   250.0, 100.0, 80.0, 120.0, 0.9, ("zscore",))
    >>> alertmanager_alert(Alert(over, {}), "page", now=120.0, lease=240)["endsAt"]
    '1970-01-01T00:01:30Z'
    >>> alertmanager_alert(Alert(over, {}), "page", 120.0, 240, unannounced_for=60)["endsAt"]
    '1970-01-01T00:03:00Z'
    """
    event = alert.event
    if not event.summary:  # built without the pager (tests, old states): write its text now
        event = event.explained()
    if labels is None:
        labels = alert_labels(alert, severity)
    starts = min(event.start, now)
    if event.firing:
        ends = now + lease
    elif unannounced_for > 0:
        ends = now + unannounced_for
    else:
        ends = max(min(event.end if event.end is not None else now, now), starts)
    return {
        "labels": dict(labels),
        "annotations": {
            "summary": event.summary,
            "description": event.description,
            **{
                name: url
                for name, url in (
                    ("runbook_url", event.runbook_url),
                    ("dashboard_url", event.dashboard_url),
                )
                if url
            },
            "value": _number(event.value),
            "expected": _number(event.expected),
            "lower": _number(event.lower),
            "upper": _number(event.upper),
            "anomaly_score": _number(event.anomaly_score),
            "peak_score": _number(event.peak_score),
            "peak_value": _number(event.peak_value),
            "detectors": ",".join(event.detectors),
            "alert_id": event.alert_id,
            "event_id": event.event_id,
            "incident_start": format_timestamp(event.start),
            **({"resolve_reason": event.resolve_reason} if event.resolve_reason else {}),
        },
        "startsAt": format_timestamp(starts),
        "endsAt": format_timestamp(ends),
    }


class _Backoff:
    """When the next attempt is due after failures: 1 s, doubling, capped at ``cap``."""

    def __init__(self, cap: float):
        self.cap = cap
        self.delay = 0.0
        self.due = -math.inf

    def failed(self, now: float) -> None:
        self.delay = min(max(self.delay * 2, FIRST_RETRY), self.cap)
        self.due = now + self.delay

    def succeeded(self) -> None:
        self.delay = 0.0
        self.due = -math.inf


class AlertmanagerSink:
    """Keeps Alertmanager's view of Lookout's alerts up to date.

    Parameters
    ----------
    url
        Alertmanager's base URL (``http://host:9093``); user info becomes basic auth.
    severity
        The ``severity`` label of an event without one (the pager gives each event its
        rule's severity, see :mod:`stream.outputs.policy`).
    resend_interval
        Seconds between re-sends of firing alerts.
    timeout
        Seconds per request.
    on_failure
        Called once per failed request (for a counter).
    auth
        Basic auth or bearer token credentials.
    """

    name = "alertmanager"
    keeps_state = True

    def __init__(
        self,
        url: str,
        severity: str = "page",
        resend_interval: float = 60.0,
        timeout: float = 5.0,
        on_failure: Callable[[], None] | None = None,
        auth: HttpAuth | None = None,
    ):
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.auth = auth
        _warn_if_cleartext(self.name, url, auth)
        self.severity = severity
        self.resend_interval = resend_interval
        self.timeout = timeout
        self.on_failure = on_failure
        # series -> (latest alert, labels sent with it); resolved ones until delivered
        self._firing: dict[str, tuple[Alert, dict[str, str]]] = {}
        self._resolved: dict[str, tuple[Alert, dict[str, str]]] = {}
        # series whose opening came to this sink and is not sent yet; resolutions among them
        self._unsent_openings: set[str] = set()
        self._unannounced: set[str] = set()
        self._next_resend = math.inf
        self._retry = _Backoff(cap=resend_interval)
        self._dirty = False

    @property
    def firing(self) -> list[str]:
        """Series whose alert is firing."""
        return sorted(self._firing)

    def send(self, alerts: Sequence[Alert], now: float) -> None:
        self._take(alerts, now, opened_here=True)

    def adopt(self, alerts: Sequence[Alert], now: float) -> None:
        """Take over alerts still firing in restored state, so that they keep being re-sent:
        Alertmanager would otherwise resolve them when their last lease ends. Sent with the
        labels of the point that opened them, they are the same alerts to Alertmanager."""
        alerts = [alert for alert in alerts if alert.event.series not in self._firing]
        self._take(alerts, now, opened_here=False)

    def resume(self, alerts: Sequence[Alert], now: float) -> None:
        """The net state of series replayed after a restore (see ``Runner._start_replay``):
        the process before this one may have sent Alertmanager their alerts, so a resolution
        among them is sent as a plain resolution (sent firing again, it could page twice)."""
        self._take(alerts, now, opened_here=False)

    def release(self, series: Iterable[str], now: float) -> None:
        """Series now owned by another process (a rebalance), which takes their alerts over
        from their stored state: what is pending is sent once more, then they are no longer
        re-sent from here (re-sent, an alert the new owner resolves would fire again)."""
        if self._dirty and now >= self._retry.due:
            self._post(now)
        for name in series:
            self._firing.pop(name, None)
            self._resolved.pop(name, None)
            self._unsent_openings.discard(name)
            self._unannounced.discard(name)
        if not self._firing:
            self._next_resend = math.inf

    def _take(self, alerts: Sequence[Alert], now: float, opened_here: bool) -> None:
        """Note each series' latest alert and post when due. A resolution whose opening this
        sink got (``opened_here``: not taken over from a process before) but has not sent
        yet fires for one resend interval first (see :func:`alertmanager_alert`)."""
        for alert in alerts:
            series = alert.event.series
            previous = self._firing.pop(series, None)
            labels = previous[1] if previous is not None else None
            if labels is None:
                labels = alert_labels(alert, self.severity)
            if alert.event.firing:
                self._firing[series] = (alert, labels)
                self._resolved.pop(series, None)
                if opened_here:
                    self._unsent_openings.add(series)
            else:
                self._resolved[series] = (alert, labels)
                if series in self._unsent_openings:
                    log.info("alertmanager: %s resolved before it was sent firing", series)
                    self._unannounced.add(series)
        if alerts:
            self._dirty = True
            if now >= self._retry.due:
                self._post(now)

    def tick(self, now: float) -> None:
        if (self._dirty and now >= self._retry.due) or now >= self._next_resend:
            self._post(now)

    def _post(self, now: float) -> None:
        lease = LEASE_INTERVALS * self.resend_interval
        entries = list(self._firing.values()) + list(self._resolved.values())
        if not entries:
            self._dirty = False
            self._next_resend = math.inf
            return
        # A resolution Alertmanager never saw firing fires for one resend interval first
        items = [
            alertmanager_alert(
                alert,
                self.severity,
                now,
                lease,
                labels,
                self.resend_interval if alert.event.series in self._unannounced else 0.0,
            )
            for alert, labels in entries
        ]
        try:
            post_json(self.url, items, self.timeout, self.auth)
        except AlertDeliveryError as exc:
            self._retry.failed(now)
            log.warning("alertmanager: %s (retry in %.0f s)", exc, self._retry.delay)
            if self.on_failure is not None:
                self.on_failure()
            return
        self._retry.succeeded()
        self._resolved.clear()
        self._unsent_openings.clear()
        self._unannounced.clear()
        self._dirty = False
        self._next_resend = now + self.resend_interval if self._firing else math.inf

    def close(self, now: float) -> None:
        """One last attempt for what is not delivered yet (resolutions, new alerts)."""
        if self._dirty:
            self._post(now)


class WebhookSink:
    """POSTs each alert event (the :func:`alert_document`) to ``url``, in order, with its
    ``event_id`` also in an ``Idempotency-Key`` header.

    Events that could not be delivered wait in a queue of at most ``max_pending`` (the oldest
    are dropped beyond it, each drop counted as a failure) and are retried with backoff.
    ``auth`` authenticates the requests (basic auth or a bearer token).
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        max_pending: int = 1000,
        retry_cap: float = 60.0,
        on_failure: Callable[[], None] | None = None,
        auth: HttpAuth | None = None,
    ):
        self.url = url
        self.auth = auth
        _warn_if_cleartext(self.name, url, auth)
        self.timeout = timeout
        self.max_pending = max_pending
        self.on_failure = on_failure
        self._pending: list[dict] = []
        self._retry = _Backoff(cap=retry_cap)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def send(self, alerts: Sequence[Alert], now: float) -> None:
        self._pending.extend(alert_document(alert) for alert in alerts)
        overflow = len(self._pending) - self.max_pending
        if overflow > 0:
            log.error("webhook: dropping %d undelivered alert events", overflow)
            del self._pending[:overflow]
            for _ in range(overflow):
                self._failed_once()
        if alerts and now >= self._retry.due:
            self._deliver(now)

    def adopt(self, alerts: Sequence[Alert], now: float) -> None:
        """Nothing: the webhook was sent the firing event already."""

    def tick(self, now: float) -> None:
        if self._pending and now >= self._retry.due:
            self._deliver(now)

    def _deliver(self, now: float) -> None:
        while self._pending:
            try:
                event = self._pending[0]
                post_json(self.url, event, self.timeout, self.auth, event.get("event_id"))
            except AlertDeliveryError as exc:
                self._retry.failed(now)
                log.warning("webhook: %s (retry in %.0f s)", exc, self._retry.delay)
                self._failed_once()
                return
            self._pending.pop(0)
        self._retry.succeeded()

    def _failed_once(self) -> None:
        if self.on_failure is not None:
            self.on_failure()

    def close(self, now: float) -> None:
        """One last attempt for the events not delivered yet."""
        if self._pending:
            self._deliver(now)

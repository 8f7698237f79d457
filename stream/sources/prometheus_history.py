"""Series' recent history from a Prometheus-compatible ``query_range`` API.

Prometheus, Thanos, Mimir, VictoriaMetrics and Cortex all answer ``/api/v1/query_range`` with
the same JSON: a *matrix*, one item per series, its labels under ``metric`` and its samples as
``[epoch seconds, "text value"]`` pairs. :func:`matrix_series` turns such a document into
arrays (the one place that parses it); :class:`PrometheusHistory` asks for a long range in
chunks, each under Prometheus' limit of 11,000 points per series (and halved while Prometheus
finds a chunk holds too many samples), oldest first, so that the points can be scored chunk by
chunk in time order without holding the whole range.

Which Lookout series a Prometheus series feeds is :func:`series_name`: by default Prometheus'
own notation, ``name{label="value",...}`` with the labels sorted, or a template of labels such
as ``{job}/{instance}``; the series' labels (but ``__name__``) become the points' labels.

Errors are :class:`PrometheusError` (unreachable, HTTP error, an error answer, a document that
is not a matrix), with Prometheus' own message; credentials never appear in them.

Examples
--------
>>> document = {"status": "success", "data": {"resultType": "matrix", "result": [
...     {"metric": {"__name__": "up", "job": "node"}, "values": [[60, "1"], [120, "NaN"]]}]}}
>>> (series,) = matrix_series(document)
>>> series.labels, series.timestamps.tolist(), series.values.tolist(), series.non_finite
({'__name__': 'up', 'job': 'node'}, [60.0], [1.0], 1)
>>> series_name(series.labels)
'up{job="node"}'
>>> chunk_ranges(0, 100, step=10, chunk_steps=4)
[(0.0, 30.0), (40.0, 70.0), (80.0, 100.0)]
"""

from __future__ import annotations

import base64
import dataclasses
import math
import re
import statistics
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import orjson

__all__ = [
    "MAX_POINTS_PER_SERIES",
    "PrometheusError",
    "PromSeries",
    "PrometheusHistory",
    "chunk_ranges",
    "matrix_series",
    "parse_duration",
    "series_name",
]

#: Prometheus refuses a range query with more steps than this per series.
MAX_POINTS_PER_SERIES = 11_000
#: Steps asked per request: under the limit, with room for a range that is not a whole number
#: of steps.
CHUNK_STEPS = 10_000


class PrometheusError(Exception):
    """Prometheus could not be asked, or answered with an error; the message says which.
    ``bad_query``: Prometheus refused the query itself (a setting to fix, not an outage)."""

    def __init__(self, message: str, bad_query: bool = False):
        super().__init__(message)
        self.bad_query = bad_query


@dataclasses.dataclass(frozen=True)
class PromSeries:
    """One series of a matrix: its labels (with ``__name__`` when it has one), its finite
    samples in time order, and how many samples were left out as NaN or infinite."""

    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray
    non_finite: int = 0


def matrix_series(document: Mapping[str, Any]) -> list[PromSeries]:
    """The series of a ``query_range`` answer (``{"status": "success", "data": {"resultType":
    "matrix", "result": [...]}}``), as arrays of finite samples.

    Raises :class:`PrometheusError` for an error answer or a document that is not a matrix.
    Native histogram samples (``histograms``) are not numbers and are left out.
    """
    if not isinstance(document, Mapping):
        raise PrometheusError("not a Prometheus API answer (not a JSON object)")
    if document.get("status") != "success":
        raise PrometheusError(
            f"Prometheus answered {document.get('errorType', 'an error')}: "
            f"{document.get('error', document.get('status'))}",
            bad_query=document.get("errorType") == "bad_data",
        )
    data = document.get("data")
    if not isinstance(data, Mapping) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, Mapping) else None
        raise PrometheusError(
            f"expected a matrix (a range query's answer), got {kind!r}", bad_query=True
        )
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusError("malformed matrix: 'result' is not a list")
    series = []
    for item in result:
        try:
            labels = {str(name): str(value) for name, value in item["metric"].items()}
            samples = item.get("values") or []
            timestamps = np.array([float(t) for t, _ in samples], dtype=np.float64)
            values = np.array([float(v) for _, v in samples], dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PrometheusError(f"malformed matrix item: {exc!r}") from None
        finite = np.isfinite(values) & np.isfinite(timestamps)
        non_finite = int(len(values) - np.count_nonzero(finite))
        if non_finite:
            timestamps, values = timestamps[finite], values[finite]
        series.append(PromSeries(labels, timestamps, values, non_finite))
    return series


_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_TEMPLATE_FIELD = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


def series_name(labels: Mapping[str, str], template: str = "") -> str:
    """The Lookout series a Prometheus series feeds: ``template`` with each ``{label}``
    replaced by the label's value, or (no template) Prometheus' notation of the series.

    Raises ``KeyError`` naming a label the template needs and the series lacks.

    >>> labels = {"__name__": "node_load1", "job": "node", "instance": "a:9100"}
    >>> series_name(labels)
    'node_load1{instance="a:9100",job="node"}'
    >>> series_name(labels, "{job}/{instance}/{__name__}")
    'node/a:9100/node_load1'
    >>> series_name({"job": 'say "hi"'})
    '{job="say \\\\"hi\\\\""}'
    """
    if template:
        return _TEMPLATE_FIELD.sub(lambda match: labels[match.group(1)], template)
    name = labels.get("__name__", "")
    pairs = ",".join(
        f'{key}="{value.translate(_ESCAPES)}"'
        for key, value in sorted(labels.items())
        if key != "__name__"
    )
    return f"{name}{{{pairs}}}" if pairs or not name else name


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``7d``, ``1h30m``, ``90s``) or a plain number.

    >>> parse_duration("7d"), parse_duration("1h30m"), parse_duration("300")
    (604800.0, 5400.0, 300.0)
    >>> parse_duration("soon")
    Traceback (most recent call last):
    ...
    ValueError: 'soon' is not a duration such as 7d, 12h, 90s or 300
    """
    text = str(text).strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            raise ValueError(f"{text!r} is not a duration such as 7d, 12h, 90s or 300") from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"duration {text!r} must be positive")
    return float(seconds)


def chunk_ranges(
    start: float, end: float, step: float, chunk_steps: int = CHUNK_STEPS
) -> list[tuple[float, float]]:
    """``[start, end]`` cut into ranges of at most ``chunk_steps`` steps, oldest first, that
    share no evaluation time (a range query includes both of its ends)."""
    if not step > 0:
        raise ValueError(f"step must be positive, got {step}")
    if chunk_steps < 1:
        raise ValueError(f"chunk_steps must be at least 1, got {chunk_steps}")
    ranges = []
    at = float(start)
    while at <= end:
        last = min(at + (chunk_steps - 1) * step, float(end))
        ranges.append((at, last))
        at = last + step
    return ranges


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would carry the Authorization header to wherever it points.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class PrometheusHistory:
    """Reads range queries from a Prometheus-compatible API at ``url`` (its base URL, e.g.
    ``http://prometheus:9090``; a path prefix such as Mimir's ``/prometheus`` is kept).

    Parameters
    ----------
    url
        Base URL; user info in it becomes basic auth.
    timeout
        Seconds per request.
    authorization
        An ``Authorization`` header value (basic auth or a bearer token), or None.
    chunk_steps
        Steps per request (at most :data:`MAX_POINTS_PER_SERIES`).
    """

    def __init__(
        self,
        url: str,
        timeout: float = 60.0,
        authorization: str | None = None,
        chunk_steps: int = CHUNK_STEPS,
    ):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Prometheus URL {_shown(url)!r} is not http(s)://HOST[:PORT]")
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            authorization = f"Basic {token}"
            parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        if not 1 <= chunk_steps <= MAX_POINTS_PER_SERIES:
            raise ValueError(f"chunk_steps must be in [1, {MAX_POINTS_PER_SERIES}]")
        self.url = urllib.parse.urlunsplit(parts).rstrip("/")
        self.timeout = timeout
        self.authorization = authorization
        self.chunk_steps = chunk_steps
        self.requests = 0

    def _post(self, path: str, form: Mapping[str, str]) -> Any:
        """POST ``form`` (Prometheus takes its query parameters as a form too, which keeps long
        PromQL out of URLs and logs) and the decoded JSON answer."""
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "lookout"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        request = urllib.request.Request(
            self.url + path, urllib.parse.urlencode(form).encode(), headers, method="POST"
        )
        self.requests += 1
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:  # Prometheus explains a refused query in a JSON body (400, 422, 503)
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                text = body[:200].decode(errors="replace")
                raise PrometheusError(f"{self.url}{path}: HTTP {exc.code} {text}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"{self.url}{path}: {reason}") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise PrometheusError(f"{self.url}{path}: the answer is not JSON") from None

    def query_range(self, query: str, start: float, end: float, step: float) -> list[PromSeries]:
        """One ``/api/v1/query_range`` request (at most :data:`MAX_POINTS_PER_SERIES` steps)."""
        form = {"query": query, "start": repr(start), "end": repr(end), "step": repr(step)}
        return matrix_series(self._post("/api/v1/query_range", form))

    def read(self, query: str, start: float, end: float, step: float) -> Iterator[list[PromSeries]]:
        """The series of ``query`` from ``start`` to ``end`` every ``step`` seconds, one list
        per chunk of at most ``chunk_steps`` steps, oldest chunk first. ``start`` is aligned
        down to a multiple of ``step``, so that every chunk evaluates at the same times a
        query of the whole range would."""
        aligned = math.floor(start / step) * step
        for first, last in chunk_ranges(aligned, end, step, self.chunk_steps):
            yield from self._read_range(query, first, last, step)

    def _read_range(
        self, query: str, first: float, last: float, step: float
    ) -> Iterator[list[PromSeries]]:
        """One chunk; in halves, recursively, while Prometheus finds it holds too many samples
        (its ``--query.max-samples``: many series in one query)."""
        try:
            series = self.query_range(query, first, last, step)
        except PrometheusError as exc:
            steps = round((last - first) / step) + 1
            if "too many samples" not in str(exc) or steps < 2:
                raise
            middle = first + (steps // 2 - 1) * step
            yield from self._read_range(query, first, middle, step)
            yield from self._read_range(query, middle + step, last, step)
            return
        yield series

    def sampling_interval(
        self, query: str, times: Iterable[float], window: float = 3600.0
    ) -> float | None:
        """The median interval between the raw samples of ``query``'s series over the
        ``window`` seconds before the first of ``times`` that has some: Prometheus' scrape (or
        rule) interval, which the live points most likely have too. None when the query is
        not a plain selector (only a selector has raw samples) or has no two samples then."""
        for at in times:
            form = {"query": f"{query.strip()}[{int(window)}s]", "time": repr(at)}
            try:
                series = matrix_series(self._post("/api/v1/query", form))
            except PrometheusError:
                return None
            medians = [
                float(np.median(np.diff(s.timestamps))) for s in series if len(s.timestamps) > 1
            ]
            if medians:
                return statistics.median(medians)
        return None


def _shown(url: str) -> str:
    """``url`` without its user info, for messages."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

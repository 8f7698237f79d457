"""``lookout backfill``: score the series' history in Prometheus, as ``lookout run`` would have.

A dry run over the past: each series selected by ``--history-query`` is read from a
Prometheus-compatible ``query_range`` API (:mod:`stream.sources.prometheus_history`) for the last
``--history-lookback``, scored and learned by the same pipeline as the live points
(:func:`stream.runtime.warm_start.score_history`), and written like ``lookout replay`` writes a
file:
``OUT/scores.csv`` (one row per point, series first) and ``OUT/alerts.jsonl`` (the incidents it
would have paged for, with the series' labels). Nothing is sent anywhere: it answers "what would
Lookout have paged for last week, on my own metrics, with these settings?" before paging is
turned on. The warm state itself is built by ``lookout run --history-url``, which reads the
same history at start (see ``docs/prometheus.md``).

The history options (:data:`HISTORY_OPTIONS`) are shared with ``lookout run``; like every
option they can be set by flag, ``LOOKOUT_*`` variable or ``--config FILE``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from stream.cli.options import STACK_OPTIONS, stack_factory
from stream.cli.settings import ConfigError, Option, Settings, positive_float

__all__ = ["HISTORY_OPTIONS", "register", "open_history", "history_step"]

log = logging.getLogger("lookout")

#: Default step when the series' sampling interval cannot be read (an expression, not a
#: selector): one minute, the finest the detectors are tuned for.
FALLBACK_STEP = 60.0


def duration(text: str) -> str:
    from stream.sources.prometheus_history import parse_duration

    parse_duration(text)  # checked now, used as text (the defaults stay readable in --help)
    return text


def duration_or_auto(text: str) -> str:
    return text if text == "auto" else duration(text)


HISTORY_OPTIONS = (
    Option(
        "history_url",
        "",
        "base URL of a Prometheus-compatible query API (Prometheus, Thanos, Mimir, "
        "VictoriaMetrics) to read each series' history from (lookout run scores and learns "
        "it before the first live point: a warm start); empty: none",
        metavar="URL",
    ),
    Option(
        "history_query",
        "",
        "PromQL selecting the series to read, e.g. '{job=\"node\"}' or "
        "'node_load1 or http_requests:rate5m' (combine several with 'or')",
        metavar="PROMQL",
    ),
    Option(
        "history_lookback",
        "7d",
        "how much history to read, a duration (7d, 12h, 90m) or seconds",
        type=duration,
        metavar="DURATION",
    ),
    Option(
        "history_step",
        "auto",
        "seconds between history points, a duration; auto: the series' own sampling interval "
        "in Prometheus (the median interval between their raw samples over an hour of the "
        "range, which needs a plain selector; 60 s otherwise), one step for the whole query. "
        "Give the interval of your live points",
        type=duration_or_auto,
        metavar="DURATION",
    ),
    Option(
        "history_series",
        "",
        "how a Prometheus series is named as a Lookout series (the Kafka key of its live "
        "points): a template of its labels such as '{__name__}/{instance}'; empty: "
        'Prometheus\' notation, name{label="value",...} with the labels sorted',
        metavar="TEMPLATE",
    ),
    Option(
        "history_timeout",
        60.0,
        "seconds per query to the history URL",
        type=positive_float,
        metavar="SECONDS",
    ),
    Option("history_username", None, "HTTP basic auth user for the history URL", metavar="NAME"),
    Option(
        "history_password",
        None,
        "HTTP basic auth password for the history URL",
        secret=True,
        metavar="PASSWORD",
    ),
    Option(
        "history_bearer_token",
        None,
        "bearer token for the history URL (instead of basic auth)",
        secret=True,
        metavar="TOKEN",
    ),
)


def open_history(settings: Settings):
    """The :class:`~stream.sources.prometheus_history.PrometheusHistory` the settings name
    (``ValueError`` for contradicting credentials or a bad URL)."""
    from stream.sources.prometheus_history import PrometheusHistory

    if not settings.history_query.strip():
        raise ConfigError("--history-url needs --history-query (the PromQL of the series)")
    authorization = None
    if settings.history_username or settings.history_password or settings.history_bearer_token:
        from stream.outputs.alert_sinks import HttpAuth

        auth = HttpAuth.from_settings(settings, "history")
        authorization = auth.authorization() if auth is not None else None
    return PrometheusHistory(settings.history_url, settings.history_timeout, authorization)


def history_step(settings: Settings, history, start: float, end: float) -> float:
    """``--history-step`` in seconds; ``auto`` asks Prometheus for the series' interval (in
    the last hour of the range, else in its middle or its first hour)."""
    from stream.sources.prometheus_history import parse_duration

    if settings.history_step != "auto":
        return parse_duration(settings.history_step)
    hour = 3600.0
    times = (end, (start + end) / 2, min(start + hour, end))
    step = history.sampling_interval(settings.history_query, times, hour)
    if step is None:
        log.warning(
            "history: no sampling interval for %r (not a plain selector, or no samples): "
            "reading it every %.0f s; set --history-step to your live interval",
            settings.history_query,
            FALLBACK_STEP,
        )
        return FALLBACK_STEP
    return step


def read_history(settings: Settings, pipeline, on_batch=None):
    """Read and score the history the settings name in ``pipeline``: what
    :func:`stream.runtime.warm_start.score_history` returns. Raises ``PrometheusError``."""
    from stream.runtime.warm_start import score_history
    from stream.sources.prometheus_history import parse_duration

    history = open_history(settings)
    end = time.time()
    start = end - parse_duration(settings.history_lookback)
    step = history_step(settings, history, start, end)
    log.info(
        "history: reading %r from %s, %s back every %g s",
        settings.history_query,
        history.url,
        settings.history_lookback,
        step,
    )
    chunks = history.read(settings.history_query, start, end, step)
    boundary, summary, last = score_history(
        pipeline, chunks, settings.history_series, on_batch=on_batch
    )
    summary.requests = history.requests
    return boundary, summary, last


# --- lookout backfill ----------------------------------------------------------------------------


def _validate_backfill(settings: Settings) -> None:
    if not settings.history_url:
        raise ConfigError("give --history-url (or LOOKOUT_HISTORY_URL)")
    stack_factory(settings)
    open_history(settings)


def cmd_backfill(settings: Settings) -> int:
    from stream.outputs.sinks import JsonLinesWriter, ResultCsvWriter
    from stream.point import format_timestamp
    from stream.runtime.pipeline import Pipeline
    from stream.runtime.replay import ALERTS_FILE
    from stream.sources.prometheus_history import PrometheusError

    factory = stack_factory(settings)  # main() validated the settings
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)

    out = Path(settings.out)
    pipeline = Pipeline(factory, keep_duplicates=False)
    with (
        ResultCsvWriter(out / SCORES_FILE, long_format=True) as scores,
        JsonLinesWriter(out / ALERTS_FILE) as alerts,
    ):

        def write(batch) -> None:
            stamps = [format_timestamp(t) for t in batch.timestamps.tolist()]
            scores.write_batch(batch.series, stamps, batch)
            for scored in batch.transitions():
                alerts.write({**scored.event.to_dict(), "labels": dict(scored.labels)})

        try:
            _, summary, _ = read_history(settings, pipeline, on_batch=write)
        except PrometheusError as exc:
            print(f"lookout backfill: error: {exc}", file=sys.stderr)
            return 1
    print(summary.format())
    print(f"results   {out}/ ({SCORES_FILE}, {ALERTS_FILE})")
    return 0


SCORES_FILE = "scores.csv"


BACKFILL_OPTIONS = (Option("out", "backfill", "output folder", metavar="DIR"),)


def register(commands) -> None:
    from stream.cli import register_command

    register_command(
        commands,
        "backfill",
        cmd_backfill,
        {
            None: BACKFILL_OPTIONS,
            "history (Prometheus)": HISTORY_OPTIONS,
            "detector stack": STACK_OPTIONS,
        },
        validate=_validate_backfill,
        help="score the series' history in Prometheus and write the scores and alerts it "
        "would have raised",
        description="Read each series selected by --history-query from a Prometheus-compatible "
        "query_range API for the last --history-lookback (in chunks under Prometheus' 11,000 "
        "points per series), score it with the same pipeline as lookout run, and write "
        "OUT/scores.csv (series,timestamp,value,anomaly_score,alert,...) and OUT/alerts.jsonl "
        "(the incidents it would have paged for, with the series' labels). Nothing is sent: a "
        "dry run over the past, e.g. to choose --threshold before paging. Every option can "
        "also be set by its LOOKOUT_* variable or in --config FILE.",
    )

"""The Grafana dashboard queries metrics Lookout exports, under their exported names.

Every metric name in every PromQL query of ``deploy/grafana/dashboards/lookout.json`` must be
a sample name of a fresh :class:`stream.outputs.metrics.LookoutMetrics` registry, Prometheus' own
or Prometheus' own ``ALERTS``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from detectors import DetectorStack
from stream.outputs.metrics import SERIES_GAUGES, LookoutMetrics

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy/grafana/dashboards/lookout.json"

METRICS_TO_COME: set[str] = set()  # a name queried before it is exported, while it is built
PROMETHEUS_OWN = {"ALERTS"}

PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    # aggregation operators, followed by by/without rather than a parenthesis
    "sum",
    "count",
    "avg",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum")}


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    LookoutMetrics(registry=registry)
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """Identifiers of a PromQL expression that name metrics: not functions (followed by a
    parenthesis), not label matchers or names in braces and by/on lists, not strings, not
    durations in brackets, not keywords, not template variables."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr)
    expr = re.sub(r"\$\w+", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        following = expr[match.end() :].lstrip()
        if following.startswith("(") or match.group() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_metric_names_are_found_in_promql():
    expr = 'histogram_quantile(0.99, sum by (le) (rate(lookout_x_bucket{series=~"$series"}[5m])))'
    assert metric_names(expr) == {"lookout_x_bucket"}
    assert metric_names("a and on (series) (b == 1)") == {"a", "b"}


def test_every_metric_the_dashboard_queries_is_exported_or_announced():
    exported = exported_names()
    assert "lookout_points_total" in exported  # the registry is read as Prometheus sees it
    used = set().union(*map(metric_names, dashboard_queries()))
    unknown = used - exported - PROMETHEUS_OWN - METRICS_TO_COME
    assert not unknown, f"the dashboard queries metrics nobody exports: {sorted(unknown)}"
    assert not (METRICS_TO_COME & exported), "exported now: drop it from METRICS_TO_COME"


def test_dashboard_shows_lookouts_own_health():
    used = set().union(*map(metric_names, dashboard_queries()))
    for name in (
        "lookout_consumer_lag_messages",
        "lookout_points_total",
        "lookout_invalid_messages_total",  # dead letters, by reason
        "lookout_processing_latency_seconds_bucket",
        "lookout_series_tracked",
        "lookout_series_tracked_warming",
        "lookout_alert_delivery_failures_total",
        "lookout_commit_failures_total",
        "lookout_expected",
        "lookout_anomaly_score",
    ):
        assert name in used, f"no panel queries {name}"
    assert any("sum by (reason)" in expr for expr in dashboard_queries())


def test_one_score_panel_for_the_selected_series_with_the_paging_threshold():
    dashboard = json.loads(DASHBOARD.read_text())
    assert not any("repeat" in panel for panel in dashboard["panels"])  # no panel per series
    (variable,) = dashboard["templating"]["list"]
    assert variable["name"] == "series" and variable["multi"] and variable["includeAll"]
    gauges = {name for name, _, _ in SERIES_GAUGES}
    for expr in dashboard_queries():
        for name in metric_names(expr) & gauges:  # each per-series gauge: the selected series
            assert re.search(rf'\b{name}\{{series=~"\$series"\}}', expr), expr

    (score,) = [
        panel
        for panel in dashboard["panels"]
        if any("lookout_anomaly_score" in t["expr"] for t in panel["targets"])
    ]
    defaults = score["fieldConfig"]["defaults"]
    assert defaults["custom"]["thresholdsStyle"]["mode"] in {"line", "dashed"}
    steps = [step["value"] for step in defaults["thresholds"]["steps"]]
    assert DetectorStack().threshold in steps  # the default --threshold, what pages

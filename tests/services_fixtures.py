"""Session fixtures that run real Kafka, Prometheus and Alertmanager on loopback.

Loaded as a plugin from ``tests/conftest.py``: ``pytest_plugins = ["tests.services_fixtures"]``.
Tests that use them are marked ``@pytest.mark.integration``.

- ``kafka_bootstrap``: ``host:port`` of a broker; ``$KAFKA_BOOTSTRAP_SERVERS`` when set
  (e.g. from ``python scripts/services.py kafka start``), else the session's own broker.
- ``kafka_broker``: the session's own :class:`KafkaBroker`, for outage tests. Stop it only with
  ``with kafka_broker.stopped(): ...``, which restarts it even if the test fails.
- ``prometheus_factory``: ``prometheus_factory(["127.0.0.1:9108"], **options)`` returns a
  running :class:`Prometheus` scraping those targets every second; all stop at session end.
- ``alertmanager_factory``: ``alertmanager_factory(webhook_url=None, **options)`` returns a
  running :class:`Alertmanager`; ``alertmanager`` is one without a webhook.

Every integration test is put in the xdist group ``services`` (unless it names another), so that
``pytest -n N --dist loadgroup`` runs them on one worker sharing one broker. Caveat: with
pytest 9.2 and pytest-xdist 3.8 ``loadgroup`` ignores groups (xdist renames ``item._nodeid``,
which pytest 9 no longer reads), so each worker that gets an integration test starts its own
services; ``--dist loadfile`` at least keeps a module's tests together.

A service that cannot start skips the test with the reason, except where ``$CI`` is set: there it
fails the test, so a broken install never passes as a green run of skips.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from scripts.lookout_services import Alertmanager, KafkaBroker, Prometheus, ServiceUnavailable

__all__ = [
    "SERVICES_GROUP",
    "service_unavailable",
    "kafka_broker",
    "kafka_bootstrap",
    "prometheus_factory",
    "alertmanager_factory",
    "alertmanager",
]


#: xdist group that integration tests are put in, so they share one set of services.
SERVICES_GROUP = "services"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the test ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("integration") and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(SERVICES_GROUP))


def service_unavailable(reason: str) -> NoReturn:
    """Skip the current test because of ``reason``, or fail it when ``$CI`` is set."""
    if os.environ.get("CI"):
        pytest.fail(f"service unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"service unavailable: {reason}")


@pytest.fixture(scope="session")
def services_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def kafka_broker(services_workdir: Path) -> Iterator[KafkaBroker]:
    """A single-node KRaft broker for the whole session, 3 partitions per auto-created topic."""
    broker = KafkaBroker(services_workdir / "kafka", partitions=3)
    try:
        broker.start()
    except ServiceUnavailable as exc:
        service_unavailable(str(exc))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers: ``$KAFKA_BOOTSTRAP_SERVERS`` if set, else the session broker's."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        return external
    return request.getfixturevalue("kafka_broker").bootstrap_servers


@pytest.fixture(scope="session")
def prometheus_factory(services_workdir: Path) -> Iterator[Callable[..., Prometheus]]:
    """Start Prometheus servers scraping given ``host:port`` targets; each has its own dir."""
    started: list[Prometheus] = []

    def start(targets: Sequence[str], **options: Any) -> Prometheus:
        server = Prometheus(services_workdir / f"prometheus-{len(started)}", targets, **options)
        started.append(server)
        try:
            return server.start()
        except ServiceUnavailable as exc:
            service_unavailable(str(exc))

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def alertmanager_factory(services_workdir: Path) -> Iterator[Callable[..., Alertmanager]]:
    """Start Alertmanagers that send every notification to ``webhook_url`` within ~1 s."""
    started: list[Alertmanager] = []

    def start(webhook_url: str | None = None, **options: Any) -> Alertmanager:
        manager = Alertmanager(
            services_workdir / f"alertmanager-{len(started)}", webhook_url, **options
        )
        started.append(manager)
        try:
            return manager.start()
        except ServiceUnavailable as exc:
            service_unavailable(str(exc))

    yield start
    for manager in started:
        manager.stop()


@pytest.fixture(scope="session")
def alertmanager(alertmanager_factory: Callable[..., Alertmanager]) -> Alertmanager:
    """One Alertmanager for the session, without a webhook (read alerts with ``.alerts()``)."""
    return alertmanager_factory()

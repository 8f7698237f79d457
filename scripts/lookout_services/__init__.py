"""Real Kafka, Prometheus and Alertmanager on loopback for development and tests.

Each service is a small class that holds its parameters, picks free ports once, keeps its files
in a work dir, and has ``start()`` (which returns only once the service really serves),
``stop()`` and a context manager. Nothing here is imported by the ``lookout`` package itself.

    KafkaBroker(workdir, port=None, partitions=3)     .bootstrap_servers, .stopped()
    Prometheus(workdir, targets=...)                  .url, .query(promql), .wait_for(promql)
    Alertmanager(workdir, webhook_url=None)           .url, .alerts(), .post_alerts(alerts)
    AlertWebhookReceiver()                            .url, .notifications, .wait_for(predicate)

Every failure to start raises :class:`ServiceUnavailable` with the reason and the log tail.
"""

from .alertmanager_server import Alertmanager
from .errors import ServiceUnavailable
from .kafka_broker import KafkaBroker, round_trip
from .kafka_libs import DEFAULT_KAFKA_VERSION, fetch_kafka_libs, kafka_home
from .network import free_port
from .prometheus_server import Prometheus
from .webhook_receiver import AlertWebhookReceiver

__all__ = [
    "Alertmanager",
    "AlertWebhookReceiver",
    "DEFAULT_KAFKA_VERSION",
    "KafkaBroker",
    "Prometheus",
    "ServiceUnavailable",
    "fetch_kafka_libs",
    "free_port",
    "kafka_home",
    "round_trip",
]

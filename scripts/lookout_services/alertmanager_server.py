"""A real Alertmanager on loopback, routing every alert to one optional webhook, fast.

Started with ``--cluster.listen-address=`` (empty): otherwise it also opens the gossip port
0.0.0.0:9094. The generated route waits 1 s (``group_wait``/``group_interval``), so a webhook
gets a notification about a second after an alert is posted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .config_server import ConfigFileServer
from .network import LOOPBACK, free_port, http_json
from .process import ServerProcess

__all__ = ["Alertmanager", "routing_config", "firing_alert"]


def routing_config(
    webhook_url: str | None = None,
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
) -> dict[str, Any]:
    """An Alertmanager config sending every alert to ``webhook_url`` (or nowhere).

    Examples
    --------
    >>> config = routing_config("http://127.0.0.1:8000/hook")
    >>> config["receivers"][0]["webhook_configs"][0]["url"]
    'http://127.0.0.1:8000/hook'
    >>> routing_config()["receivers"]
    [{'name': 'default'}]
    """
    receiver: dict[str, Any] = {"name": "default"}
    if webhook_url:
        receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "series"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [receiver],
    }


def firing_alert(
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    ends_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """One alert in the ``POST /api/v2/alerts`` format; an ``ends_at`` in the past resolves it.

    Examples
    --------
    >>> firing_alert({"alertname": "LookoutAnomalous", "series": "api.latency"})["labels"]
    {'alertname': 'LookoutAnomalous', 'series': 'api.latency'}
    """
    alert: dict[str, Any] = {"labels": dict(labels), "annotations": dict(annotations or {})}
    if ends_at is not None:
        alert["endsAt"] = ends_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return alert


class Alertmanager(ConfigFileServer):
    """Alertmanager with its state in ``workdir``, listening on ``127.0.0.1:port``.

    Parameters
    ----------
    workdir
        Holds ``alertmanager.yml``, ``data/`` and ``alertmanager.log``.
    webhook_url
        Receiver of every notification (firing and resolved); none when None.
    config_text
        A complete configuration to use instead of the generated one.
    port
        Web/API port; a free one when None, kept across restarts.
    startup_timeout
        Seconds to wait for ``/-/ready``.

    Examples
    --------
    >>> import tempfile
    >>> manager = Alertmanager(tempfile.mkdtemp(), webhook_url="http://127.0.0.1:8000/", port=19093)
    >>> manager.url
    'http://127.0.0.1:19093'
    >>> "http://127.0.0.1:8000/" in manager.config_text
    True
    """

    name = "alertmanager"
    programs = ("prometheus-alertmanager", "alertmanager")

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        webhook_url: str | None = None,
        config_text: str | None = None,
        port: int | None = None,
        startup_timeout: float = 30.0,
    ):
        self.workdir = Path(workdir)
        self.webhook_url = webhook_url
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        if config_text is None:
            config_text = json.dumps(routing_config(webhook_url), indent=2)
        self.config_text = config_text
        self._process: ServerProcess | None = None

    def command(self, binary: str, config: Path) -> list[str]:
        """The command line that runs this server from ``binary`` with ``config``."""
        return [
            binary,
            f"--config.file={config}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            # Empty: no gossip. The default would also listen on 0.0.0.0:9094.
            "--cluster.listen-address=",
        ]

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``, optionally only those whose labels equal ``labels``.

        Each alert has ``labels``, ``annotations``, ``startsAt``, ``endsAt`` and
        ``status.state`` (``"active"`` once processed).
        """
        filters = [("filter", f'{name}="{value}"') for name, value in labels.items()]
        query = f"?{urllib.parse.urlencode(filters)}" if filters else ""
        return http_json(f"{self.url}/api/v2/alerts{query}")

    def post_alerts(self, alerts: Iterable[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts`` as a Prometheus server or Lookout would."""
        http_json(f"{self.url}/api/v2/alerts", [dict(alert) for alert in alerts])

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Alertmanager({self.url!r}, webhook_url={self.webhook_url!r}, {state})"

"""A real Prometheus server on loopback that scrapes given targets, with a small query client.

Prometheus reads YAML, and JSON is YAML, so the generated config is written with :mod:`json`
and needs no YAML library. A new target shows up in queries only after discovery, about 5-6 s
after start; :meth:`Prometheus.wait_for` polls for that.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config_server import ConfigFileServer
from .network import LOOPBACK, free_port, http_json
from .process import ServerProcess

__all__ = ["Prometheus", "scrape_config"]


def scrape_config(
    targets: Sequence[str],
    scrape_interval: str = "1s",
    rule_files: Sequence[str] = (),
    alertmanager_url: str | None = None,
    job_name: str = "lookout",
) -> dict[str, Any]:
    """A Prometheus config scraping ``targets`` (``host:port``) as one job.

    Examples
    --------
    >>> config = scrape_config(["127.0.0.1:9108"], alertmanager_url="http://127.0.0.1:9093")
    >>> config["scrape_configs"][0]["static_configs"]
    [{'targets': ['127.0.0.1:9108']}]
    >>> config["alerting"]["alertmanagers"][0]["static_configs"]
    [{'targets': ['127.0.0.1:9093']}]
    """
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {
                "job_name": job_name,
                "scrape_interval": scrape_interval,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
    if rule_files:
        config["rule_files"] = [str(path) for path in rule_files]
    if alertmanager_url:
        address = urllib.parse.urlsplit(alertmanager_url)
        config["alerting"] = {
            "alertmanagers": [
                {
                    "scheme": address.scheme or "http",
                    "static_configs": [{"targets": [address.netloc]}],
                }
            ]
        }
    return config


class Prometheus(ConfigFileServer):
    """Prometheus with its TSDB in ``workdir``, listening on ``127.0.0.1:port``.

    Parameters
    ----------
    workdir
        Holds ``prometheus.yml``, ``data/`` and ``prometheus.log``.
    targets
        ``host:port`` scrape targets, used when ``config_text`` is None.
    config_text
        A complete configuration to use instead of the generated one.
    port
        Web port; a free one when None, kept across restarts.
    scrape_interval
        Scrape and rule evaluation interval of the generated config.
    rule_files
        Alerting/recording rule files for the generated config.
    alertmanager_url
        Where the generated config sends alerts, e.g. ``Alertmanager.url``.
    startup_timeout
        Seconds to wait for ``/-/ready``.

    Examples
    --------
    >>> import tempfile
    >>> server = Prometheus(tempfile.mkdtemp(), targets=["127.0.0.1:9108"], port=19090)
    >>> server.url
    'http://127.0.0.1:19090'
    >>> '"127.0.0.1:9108"' in server.config_text
    True
    """

    name = "prometheus"
    programs = ("prometheus",)

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        targets: Sequence[str] = (),
        config_text: str | None = None,
        port: int | None = None,
        scrape_interval: str = "1s",
        rule_files: Sequence[str | os.PathLike[str]] = (),
        alertmanager_url: str | None = None,
        startup_timeout: float = 30.0,
    ):
        self.workdir = Path(workdir)
        self.targets = list(targets)
        self.port = port or free_port()
        self.scrape_interval = scrape_interval
        self.rule_files = [str(path) for path in rule_files]
        self.alertmanager_url = alertmanager_url
        self.startup_timeout = startup_timeout
        if config_text is None:
            config = scrape_config(
                self.targets, scrape_interval, self.rule_files, alertmanager_url=alertmanager_url
            )
            config_text = json.dumps(config, indent=2)
        self.config_text = config_text
        self._process: ServerProcess | None = None

    def command(self, binary: str, config: Path) -> list[str]:
        """The command line that runs this server from ``binary`` with ``config``."""
        return [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            # Re-send firing alerts every second instead of every minute, for tests.
            "--rules.alert.resend-delay=1s",
            "--web.enable-lifecycle",
        ]

    def query(self, promql: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Instant query: the ``data.result`` list of ``/api/v1/query``.

        Each vector item is ``{"metric": {labels}, "value": [timestamp, "text value"]}``.
        """
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        answer = http_json(url, timeout=timeout)
        if answer.get("status") != "success":
            raise ValueError(f"query {promql!r} failed: {answer}")
        return answer["data"]["result"]

    def wait_for(
        self, promql: str, timeout: float = 20.0, poll_interval: float = 0.25
    ) -> list[dict[str, Any]]:
        """Poll :meth:`query` until it returns a non-empty result, and return that result.

        Raises
        ------
        TimeoutError
            When the result is still empty after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{promql!r} still empty after {timeout} s at {self.url}")
            time.sleep(poll_interval)

    def targets_health(self) -> list[dict[str, Any]]:
        """Active targets from ``/api/v1/targets`` (``scrapeUrl``, ``health``, ``lastError``)."""
        return http_json(f"{self.url}/api/v1/targets")["data"]["activeTargets"]

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Prometheus({self.url!r}, targets={self.targets}, {state})"

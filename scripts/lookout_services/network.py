"""Loopback plumbing shared by the services: free ports, port probes and small JSON requests."""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import Any

__all__ = ["LOOPBACK", "free_port", "port_open", "http_json", "http_ok"]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The port is released before returning, so another process may take it in between; services
    pick their ports once and keep them across restarts, which keeps that window to start-up.

    Examples
    --------
    >>> port = free_port()
    >>> 1024 <= port <= 65535
    True
    >>> port_open(LOOPBACK, port)
    False
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connection to ``host:port`` is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_json(url: str, payload: Any = None, *, timeout: float = 5.0) -> Any:
    """GET ``url`` (or POST ``payload`` as JSON) and return the decoded JSON answer.

    An empty body decodes to ``None``. HTTP errors raise :class:`urllib.error.HTTPError`.
    """
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET ``url`` answers 2xx; connection and HTTP errors propagate (they say why)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return 200 <= response.status < 300

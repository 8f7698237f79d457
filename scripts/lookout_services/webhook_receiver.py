"""An in-process HTTP receiver for Alertmanager webhook notifications, for tests.

Alertmanager POSTs one JSON document per notification: ``status`` (``firing``/``resolved``),
``alerts`` (each with ``labels``, ``startsAt``, ``endsAt``), ``groupLabels`` and more.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .network import LOOPBACK

__all__ = ["AlertWebhookReceiver"]


class AlertWebhookReceiver:
    """Collects the JSON bodies POSTed to :attr:`url` on a free loopback port.

    Examples
    --------
    >>> from .network import http_json
    >>> with AlertWebhookReceiver() as receiver:
    ...     http_json(receiver.url, {"status": "firing", "alerts": []})
    ...     receiver.wait_for(lambda note: note["status"] == "firing", timeout=5)["status"]
    'firing'
    """

    def __init__(self) -> None:
        self._notifications: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("receiver not started")
        return f"http://{LOOPBACK}:{self._server.server_port}/"

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """A copy of every notification received so far, oldest first."""
        with self._changed:
            return list(self._notifications)

    def start(self) -> AlertWebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                with receiver._changed:
                    receiver._notifications.append(body)
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # one line per notification on stderr would drown test output

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first notification (already received or arriving within ``timeout``) matching.

        Raises
        ------
        TimeoutError
            When none matches in time; the message lists what did arrive.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for notification in self._notifications:
                    if predicate(notification):
                        return notification
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no matching notification in {timeout} s; got {self._notifications}"
                    )
                self._changed.wait(remaining)

    def __enter__(self) -> AlertWebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""One ``lookout run`` subprocess on a Kafka topic, as the crash and chaos tests drive it.

Its stdout and stderr go to ``<work>/<name>-<run>.out`` and ``.err`` (one pair per start), its
metrics server to a free loopback port; readiness is read from ``/-/ready`` as an orchestrator
would. ``kill()`` is a ``kill -9``, ``stop()`` a SIGTERM (checkpoint and leave the group).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from .network import free_port

REPO = Path(__file__).resolve().parents[2]


class Topics(Protocol):
    """The topics and consumer group one run uses."""

    metrics: str
    scores: str
    alerts: str
    dead: str
    group: str


class LookoutProcess:
    """``lookout run`` consuming ``topics.metrics`` as a member of ``topics.group``, with
    ``options`` after the common ones."""

    def __init__(self, work: Path, name: str, bootstrap: str, topics: Topics, *options: str):
        self.work, self.name = work, name
        self.address = f"127.0.0.1:{free_port()}"
        self.command = [
            sys.executable, "-m", "stream.cli", "run",
            "--bootstrap-servers", bootstrap,
            "--topic", topics.metrics,
            "--group-id", topics.group,
            "--scores-topic", topics.scores,
            "--alerts-topic", topics.alerts,
            "--dead-letter-topic", topics.dead,
            "--metrics-address", self.address,
            "--poll-timeout", "0.2",
            *options,
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None
        self.runs = 0
        self.killed = False
        self.lock = threading.RLock()  # a supervisor thread must not see a kill half done

    def start(self) -> LookoutProcess:
        with self.lock:
            self.runs += 1
            stem = self.work / f"{self.name}-{self.runs}"
            self.out, self.err = stem.with_suffix(".out"), stem.with_suffix(".err")
            with self.out.open("w") as out, self.err.open("w") as err:
                self.process = subprocess.Popen(self.command, cwd=REPO, stdout=out, stderr=err)
            self.killed = False
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def crashed(self) -> bool:
        """It exited without being killed or stopped."""
        with self.lock:
            return self.process is not None and not self.alive() and not self.killed

    def kill(self) -> float:
        """``kill -9``; the wall time right after it."""
        with self.lock:
            self.killed = True
            self.process.send_signal(signal.SIGKILL)
            killed_at = time.time()
            self.process.wait(timeout=30)
        return killed_at

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM; the exit status (the printed summary is :meth:`summary`)."""
        with self.lock:
            self.killed = True
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def summary(self) -> str:
        """What the last run printed (its summary, once stopped)."""
        return self.out.read_text()

    def probe(self, path: str = "/-/ready") -> int | None:
        """The HTTP status of ``path`` on its metrics server (None: no answer)."""
        try:
            with urllib.request.urlopen(f"http://{self.address}{path}", timeout=2) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Seconds until ``/-/ready`` answered 200; RuntimeError if it exits or takes longer
        than ``timeout``."""
        started = time.monotonic()
        while self.probe() != 200:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.logs()}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{self.name} not ready:\n{self.logs()}")
            time.sleep(0.1)
        return time.monotonic() - started

    def wait_recovered(self, timeout: float = 90.0) -> None:
        """Until this run scored its first point (or ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        self.wait_ready(timeout)
        while "first point scored" not in self.err.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)

    def logs(self) -> str:
        """The tail of the last run's stderr."""
        return self.err.read_text()[-4000:] if self.err.exists() else ""

    def close(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait()

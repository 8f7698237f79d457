"""A server child process: spawn with output to a log file, wait until ready, stop cleanly."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import ServiceUnavailable

__all__ = ["ServerProcess", "find_program"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the test runner is killed outright, its
    # servers get SIGTERM from the kernel instead of lingering on their ports.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not glibc Linux: the parent's stop() remains the only way to end the child


class ServerProcess:
    """One long-running child whose stdout and stderr go to ``log_path``.

    Parameters
    ----------
    name
        Short name used in error messages, e.g. ``"kafka"``.
    command
        The program and its arguments.
    log_path
        File that receives the child's output; appended to across restarts.
    extra_logs
        Other files the program writes its own log to, shown in error messages too.

    Examples
    --------
    >>> import sys, tempfile
    >>> log = Path(tempfile.mkdtemp()) / "sleep.log"
    >>> child = ServerProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], log)
    >>> child.start()
    >>> child.running
    True
    >>> child.stop(timeout=5)
    >>> child.running
    False
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        extra_logs: Sequence[Path] = (),
    ):
        self.name = name
        self.command = list(command)
        self.log_path = Path(log_path)
        self.extra_logs = [Path(p) for p in extra_logs]
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Whether the child was started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    def start(self) -> None:
        """Spawn the child; a no-op when it is already running."""
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self._popen = subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Own session: Ctrl-C in the terminal reaches the runner, which then stops
                    # the child in order, rather than every child at once mid-test.
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise ServiceUnavailable(
                    f"{self.name}: cannot run {self.command[0]}: {exc}"
                ) from exc

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Safe to call twice."""
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=10)

    def wait_until_ready(
        self, is_ready: Callable[[], bool], timeout: float, poll_interval: float = 0.2
    ) -> None:
        """Call ``is_ready`` until it returns True, or raise :class:`ServiceUnavailable`.

        Raises at once when the child exits. ``is_ready`` may raise: the exception counts as
        "not yet" and the last one is quoted if the wait times out.
        """
        deadline = time.monotonic() + timeout
        last_problem = "not ready"
        while True:
            if not self.running:
                code = None if self._popen is None else self._popen.returncode
                raise ServiceUnavailable(
                    f"{self.name} exited with code {code} during start-up\n{self.log_tail()}"
                )
            try:
                if is_ready():
                    return
            except Exception as exc:  # noqa: BLE001 - a probe failure only means "not yet"
                last_problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise ServiceUnavailable(
                    f"{self.name} not ready after {timeout:.0f} s ({last_problem})\n"
                    f"{self.log_tail()}"
                )
            time.sleep(poll_interval)

    def log_tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines of each log, labelled with its path."""
        parts = []
        for path in [self.log_path, *self.extra_logs]:
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"ServerProcess({self.name!r}, {state})"


def find_program(name: str, *alternatives: str) -> str:
    """Absolute path of the first of ``name, *alternatives`` found on PATH.

    Raises
    ------
    ServiceUnavailable
        When none is installed, with the command that installs them.
    """
    for candidate in (name, *alternatives):
        found = shutil.which(candidate)
        if found:
            return found
    raise ServiceUnavailable(
        f"{name}: not found on PATH ({os.environ.get('PATH', '')}); run scripts/install_services.sh"
    )

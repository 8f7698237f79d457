"""What Prometheus and Alertmanager have in common: a Debian-packaged binary run from a config
file in a work directory, listening on loopback and ready once ``/-/ready`` answers."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from .errors import ServiceUnavailable
from .network import LOOPBACK, http_ok
from .process import ServerProcess, find_program


class ConfigFileServer:
    """Lifecycle shared by the config-file servers; subclasses give ``command()``.

    Subclasses set ``name`` (config ``<name>.yml`` and log ``<name>.log`` in ``workdir``),
    ``programs`` (executable names to look for) and, in ``__init__``, ``workdir``, ``port``,
    ``startup_timeout``, ``config_text`` and ``_process = None``.
    """

    name: str
    programs: tuple[str, ...]
    workdir: Path
    port: int
    startup_timeout: float
    config_text: str
    _process: ServerProcess | None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def command(self, binary: str, config: Path) -> list[str]:
        """The command line that runs this server from ``binary`` with ``config``."""
        raise NotImplementedError

    def start(self) -> Self:
        """Write the config, launch the server and wait for ``/-/ready``.

        Raises
        ------
        ServiceUnavailable
            When it is not installed, rejects the config, or is not ready in time.
        """
        if self.running:
            return self
        binary = find_program(*self.programs)
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / f"{self.name}.yml"
        config.write_text(self.config_text)
        self._process = ServerProcess(
            self.name, self.command(binary, config), self.workdir / f"{self.name}.log"
        )
        self._process.start()
        try:
            self._process.wait_until_ready(
                lambda: http_ok(f"{self.url}/-/ready"), timeout=self.startup_timeout
            )
        except ServiceUnavailable:
            self._process.stop(timeout=5)
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is not None:
            self._process.stop(timeout=timeout)

    def log_tail(self, lines: int = 25) -> str:
        return "" if self._process is None else self._process.log_tail(lines)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

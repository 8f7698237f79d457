"""Locate, or fetch with Maven, the jars of an Apache Kafka broker, cached outside the work tree.

Layout: ``$LOOKOUT_CACHE_DIR/kafka-<version>/libs/*.jar`` (default cache dir
``~/.cache/lookout``), plus a ``.complete`` marker written only after Maven succeeded, so an
interrupted fetch is redone instead of half-used.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from .errors import ServiceUnavailable
from .process import find_program

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "POM_PATH",
    "kafka_version",
    "kafka_home",
    "installed_kafka_libs",
    "fetch_kafka_libs",
]

#: Newest 4.x release that Maven Central served when this was written.
DEFAULT_KAFKA_VERSION = "4.4.0"

#: The pom whose only job is to list the broker as a dependency.
POM_PATH = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"

_MARKER = ".complete"


def kafka_version() -> str:
    """The Kafka version to use: ``$LOOKOUT_KAFKA_VERSION`` or :data:`DEFAULT_KAFKA_VERSION`."""
    return os.environ.get("LOOKOUT_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION


def kafka_home(version: str | None = None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Cache folder of one Kafka version, under ``cache_dir`` or the cache dir of the environment.

    ``$LOOKOUT_CACHE_DIR`` (default ``~/.cache/lookout``) is read at call time, not import.

    Examples
    --------
    >>> kafka_home("4.4.0", cache_dir="/tmp/lookout-cache").as_posix()
    '/tmp/lookout-cache/kafka-4.4.0'
    """
    root = cache_dir or os.environ.get("LOOKOUT_CACHE_DIR") or Path.home() / ".cache" / "lookout"
    return Path(root) / f"kafka-{version or kafka_version()}"


def installed_kafka_libs(version: str | None = None) -> Path | None:
    """The folder of jars if a complete fetch of ``version`` is cached, else None."""
    home = kafka_home(version)
    libs = home / "libs"
    if (home / _MARKER).exists() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    return None


def fetch_kafka_libs(version: str | None = None, *, timeout: float = 900.0) -> Path:
    """Return the cached jars of ``version``, running Maven first if they are missing.

    Raises
    ------
    ServiceUnavailable
        When Maven is missing or fails; the message ends with Maven's output.
    """
    version = version or kafka_version()
    cached = installed_kafka_libs(version)
    if cached is not None:
        return cached
    mvn = find_program("mvn")
    home = kafka_home(version)
    home.mkdir(parents=True, exist_ok=True)
    # One fetch at a time per cache folder (pytest-xdist workers start together); the others
    # wait on the lock and then find the jars.
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = installed_kafka_libs(version)
        if cached is not None:
            return cached
        return _run_maven(mvn, version, home, timeout)


def _run_maven(mvn: str, version: str, home: Path, timeout: float) -> Path:
    libs = home / "libs"
    shutil.rmtree(libs, ignore_errors=True)  # left by an interrupted fetch
    for archive in home.glob("*.jsa"):
        archive.unlink()  # class archives name the jars they were built from
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM_PATH),
        "dependency:copy-dependencies",
        f"-Dkafka.version={version}",
        f"-DoutputDirectory={libs}",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ServiceUnavailable(f"kafka: Maven fetch timed out after {timeout:.0f} s") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-30:]
        raise ServiceUnavailable(
            f"kafka: `{' '.join(command)}` failed with code {done.returncode}\n" + "\n".join(output)
        )
    (home / _MARKER).write_text(f"org.apache.kafka:kafka_2.13:{version}\n")
    return libs

"""A real single-node Apache Kafka broker (KRaft, broker and controller in one JVM) on loopback.

The broker runs from the Maven-fetched jars (:mod:`.kafka_libs`) as
``java -cp 'libs/*' kafka.Kafka server.properties``. Its log dir is formatted once with
``kafka.tools.StorageTool`` (the class the distribution's ``kafka-storage.sh`` runs); a restart
on the same ``workdir`` keeps ports, cluster id and data. It counts as started only after a
message was produced and consumed back, since an open port comes seconds before a usable broker.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import ServiceUnavailable
from .kafka_libs import fetch_kafka_libs, installed_kafka_libs
from .network import LOOPBACK, free_port, port_open
from .process import ServerProcess

__all__ = [
    "KafkaBroker",
    "PROBE_TOPIC",
    "build_class_archive",
    "class_archive_path",
    "round_trip",
]

#: Topic written by the readiness probe (auto-created, one small message per start).
PROBE_TOPIC = "lookout-readiness-probe"

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
"""


class KafkaBroker:
    """A Kafka broker in ``workdir`` listening on ``127.0.0.1:port``.

    Parameters
    ----------
    workdir
        Holds ``server.properties``, the log dir ``data/`` and the logs; created if missing.
    port
        Client port; a free one when None. Chosen once, so a restart keeps the same address.
    partitions
        ``num.partitions`` for auto-created topics.
    version
        Kafka version; ``$LOOKOUT_KAFKA_VERSION`` or the default of :mod:`.kafka_libs`.
    heap
        JVM ``-Xmx``.
    fetch
        Run Maven when the jars are not cached yet (about 25 s the first time).
    startup_timeout
        Seconds to wait for the produce/consume round trip.
    class_archive
        Start the JVM from the class-data-sharing archive in the jar cache when there is one
        (see :func:`build_class_archive`).

    Examples
    --------
    >>> import tempfile
    >>> broker = KafkaBroker(tempfile.mkdtemp(), port=19092, partitions=2)
    >>> broker.bootstrap_servers
    '127.0.0.1:19092'
    >>> print(broker.properties()["num.partitions"], broker.running)
    2 False

    Started for real (needs Java 17 and the jars, see ``scripts/install_services.sh``)::

        with KafkaBroker(workdir) as broker:
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
            with broker.stopped():
                ...  # an outage: clients see the broker gone, data stays in workdir
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        port: int | None = None,
        partitions: int = 3,
        version: str | None = None,
        heap: str = "512m",
        fetch: bool = True,
        startup_timeout: float = 90.0,
        class_archive: bool = True,
    ):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.controller_port = free_port()
        self.partitions = partitions
        self.version = version
        self.heap = heap
        self.fetch = fetch
        self.startup_timeout = startup_timeout
        self.class_archive = class_archive
        self._process: ServerProcess | None = None
        self._dump_class_archive_to: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for clients' ``bootstrap_servers``."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_file(self) -> Path:
        """The broker's own log (log4j); the JVM's stdout goes to ``kafka.out`` beside it."""
        return self.workdir / "logs" / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def properties(self) -> dict[str, str]:
        """The broker configuration written to ``server.properties``."""
        listener = f"PLAINTEXT://{LOOPBACK}:{self.port}"
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOOPBACK}:{self.controller_port}",
            "listeners": f"{listener},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": listener,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "true",
            # One node: every internal topic must live with a single replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Fewer internal partitions make the first group join and first commit quick.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.num.partitions": "1",
            # Without this the first consumer group waits 3 s for more members.
            "group.initial.rebalance.delay.ms": "0",
        }

    def start(self) -> KafkaBroker:
        """Format the log dir on first use, launch the JVM and wait for a round trip.

        Raises
        ------
        ServiceUnavailable
            When Java or the jars are missing, or the broker does not serve in time.
        """
        if self.running:
            return self
        libs = fetch_kafka_libs(self.version) if self.fetch else installed_kafka_libs(self.version)
        if libs is None:
            raise ServiceUnavailable("kafka: jars not cached; run scripts/install_services.sh")
        java = _java()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        config = self.workdir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in self.properties().items()))
        log4j = self.workdir / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log_file=self.log_file))
        classpath = f"{libs}/*"
        jvm = [java, *self._jvm_options(java, libs)]
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage(jvm, classpath, config)
        self._process = ServerProcess(
            "kafka",
            [
                *jvm,
                f"-Xmx{self.heap}",
                "-Xms64m",
                # Log4j would otherwise stop logging when SIGTERM arrives, hiding the shutdown.
                "-Dlog4j2.shutdownHookEnabled=false",
                f"-Dlog4j2.configurationFile={log4j}",
                f"-Dkafka.logs.dir={self.workdir / 'logs'}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(config),
            ],
            self.workdir / "logs" / "kafka.out",
            extra_logs=[self.log_file],
        )
        self._process.start()
        try:
            self._process.wait_until_ready(self._serves, timeout=self.startup_timeout)
        except ServiceUnavailable:
            self._process.stop(timeout=5)
            raise
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Controlled shutdown (SIGTERM), SIGKILL after ``timeout`` s. Data stays in ``workdir``."""
        if self._process is not None:
            self._process.stop(timeout=timeout)

    @contextlib.contextmanager
    def stopped(self, timeout: float = 20.0) -> Iterator[KafkaBroker]:
        """Stop the broker for the ``with`` block and start it again on the way out.

        For outage tests on a shared broker: it is restarted even when the block raises, so
        later tests still find it running.
        """
        self.stop(timeout=timeout)
        try:
            yield self
        finally:
            self.start()

    def log_tail(self, lines: int = 25) -> str:
        """The end of ``kafka.out`` and of the broker's ``server.log``."""
        return "" if self._process is None else self._process.log_tail(lines)

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"KafkaBroker({str(self.workdir)!r}, port={self.port}, {state})"

    def _jvm_options(self, java: str, libs: Path) -> list[str]:
        options = [
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",  # C1 only: a test broker starts faster, runs fast enough
            "-Djava.awt.headless=true",
        ]
        archive = class_archive_path(java, libs)
        if self._dump_class_archive_to is not None:
            options.append(f"-XX:ArchiveClassesAtExit={self._dump_class_archive_to}")
        elif self.class_archive and archive.exists():
            # Class data sharing: loading the broker's ~10k classes from one mapped archive
            # halves JVM start-up (about 6.5 s -> 3 s here). A stale archive is only a warning.
            options.append(f"-XX:SharedArchiveFile={archive}")
        return options

    def _format_storage(self, jvm: list[str], classpath: str, config: Path) -> None:
        # Kafka's own form (base64url of a UUID), but never starting with "-": the storage tool
        # would read such an id as an option (about one run in 64 failed to format).
        cluster_id = "L" + base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()[1:]
        command = [
            *[option for option in jvm if not option.startswith("-XX:ArchiveClassesAtExit")],
            "-Xmx256m",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(config),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise ServiceUnavailable(
                f"kafka: formatting {self.data_dir} failed with code {done.returncode}\n"
                f"{done.stdout}{done.stderr}"
            )

    def _serves(self) -> bool:
        # The port opens before the broker has a controller and leaders; probing it first keeps
        # kafka-python from logging connection errors while the JVM boots.
        if not port_open(LOOPBACK, self.port):
            return False
        round_trip(self.bootstrap_servers, timeout=15.0)
        return True


def class_archive_path(java: str, libs: Path) -> Path:
    """Where the class-data-sharing archive for this JVM and these jars lives (may not exist).

    An archive only fits the JVM build that wrote it, so its name carries a digest of the
    resolved ``java`` binary and its modification time.
    """
    binary = Path(java).resolve()
    digest = hashlib.sha1(f"{binary}:{binary.stat().st_mtime_ns}".encode()).hexdigest()[:10]
    return libs.parent / f"classes-{digest}.jsa"


def build_class_archive(version: str | None = None, timeout: float = 180.0) -> Path:
    """Run a throw-away broker once so the JVM writes a class-data-sharing archive at exit.

    Takes about 20 s (half of it the dump after SIGTERM), once per machine and Kafka version;
    every later :meth:`KafkaBroker.start` then saves about 3 s. A no-op if the archive exists.
    """
    libs = fetch_kafka_libs(version)
    target = class_archive_path(_java(), libs)
    if target.exists():
        return target
    staging = target.with_name(f"{target.stem}.{os.getpid()}.partial")
    with tempfile.TemporaryDirectory(prefix="lookout-kafka-cds-") as workdir:
        broker = KafkaBroker(workdir, version=version, class_archive=False)
        broker._dump_class_archive_to = staging
        broker.start()
        broker.stop(timeout=timeout)
    if not staging.exists():
        raise ServiceUnavailable(f"kafka: the JVM wrote no class archive\n{broker.log_tail()}")
    os.replace(staging, target)  # atomic: a concurrent broker sees no archive or a whole one
    return target


def round_trip(bootstrap_servers: str, topic: str = PROBE_TOPIC, timeout: float = 15.0) -> None:
    """Produce a unique message to ``topic`` and read it back from its partition and offset.

    Raises
    ------
    TimeoutError
        When the message is not read back within ``timeout`` seconds.
    kafka.errors.KafkaError
        When the broker refuses or times out the produce.
    """
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    payload = uuid.uuid4().hex.encode()
    timeout_ms = int(timeout * 1000)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers, max_block_ms=timeout_ms, request_timeout_ms=timeout_ms
    )
    try:
        sent = producer.send(topic, payload).get(timeout=timeout)
    finally:
        producer.close(timeout=2)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    try:
        partition = TopicPartition(sent.topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                if any(record.value == payload for record in records):
                    return
    finally:
        consumer.close()
    raise TimeoutError(f"message produced to {topic} was not consumed within {timeout} s")


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise ServiceUnavailable("kafka: java not found (Kafka 4 needs Java 17+); set JAVA_HOME")
    return java

"""Where the detector state of every series is kept between checkpoints, restarts and owners.

A store holds, per series, the snapshot bytes of its detectors (what
:meth:`stream.runtime.pipeline.Pipeline.snapshot_series` returns), the input partition the series
comes
from and the offset of that partition its snapshot reflects; and per input partition, the offset
the stored states reflect as a whole. "Reflects offset ``n``": every record before ``n`` was
scored and its outputs delivered, none after it. So a restore resumes each series exactly where
its snapshot stopped, even after a checkpoint that a crash interrupted half-way (some series
written, the partition's offset not yet). A checkpoint writes its changes (:class:`StateChanges`)
at once.

Two backends:

- :class:`SqliteStateStore`: one SQLite file. For a single process (or several on one machine),
  and for ``lookout replay --resume``.
- :class:`KafkaStateStore`: a compacted topic keyed by series, with as many partitions as the
  input topic; partition ``p`` holds the series of input partition ``p`` and its offset. Any
  member of the consumer group can restore the partitions it is assigned.

Stored values are zlib-compressed (a snapshot shrinks to about half). Nothing is unpickled:
snapshots are restored by :mod:`detectors.state`, which only builds this package's classes.

Examples
--------
>>> store = SqliteStateStore(":memory:")
>>> store.write(StateChanges(puts={"cpu": (("metrics", 0), b"state of cpu")},
...                          offsets={("metrics", 0): 42}))
>>> stored = store.load_partitions([("metrics", 0)])
>>> stored.states, stored.offsets
({'cpu': b'state of cpu'}, {('metrics', 0): 42})
>>> store.delete_many({"cpu": ("metrics", 0)})
>>> store.get_many(["cpu"])
{}
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import re
import sqlite3
import struct
import threading
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "Partition",
    "StateStoreError",
    "StateChanges",
    "StoredState",
    "StateStore",
    "SqliteStateStore",
    "KafkaStateStore",
    "STATE_TOPIC_CONFIG",
    "default_state_topic",
    "open_state_store",
]

log = logging.getLogger(__name__)

Partition = tuple[str, int]

# A stored value: one byte of format (so the encoding can change later), the input offset the
# snapshot reflects (8 bytes, big-endian, -1: unknown), then the zlib-compressed snapshot.
_FORMAT_BYTE = b"\x01"
_OFFSET = struct.Struct(">q")
# A snapshot is ~140 kB; anything past this is not one of ours (and not worth a memory blow-up).
MAX_STATE_BYTES = 64 << 20

#: Settings of a state topic created by :class:`KafkaStateStore`: compacted (the latest state of
#: each series survives), and segments rolled and cleaned often enough that a restore reads little
#: more than one state per series.
STATE_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": str(16 << 20),
    "segment.ms": str(10 * 60 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
}

_SERIES_KEY = b"series:"
_OFFSET_KEY = b"offset:"
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}\Z")


class StateStoreError(Exception):
    """The store cannot be used as asked (bad data, wrong layout, unknown backend)."""


@dataclasses.dataclass
class StateChanges:
    """One checkpoint's writes, applied together.

    ``puts``: series -> (its input partition, snapshot bytes); ``deletes``: series -> its input
    partition (a forgotten series); ``offsets``: input partition -> next offset to process (also
    stored with each put of that partition: the offset its snapshot reflects);
    ``handed_over``: partitions whose offsets are written as they are given up (a revocation or
    a stop), so that nothing after them was processed; any other offset write clears the mark.
    """

    puts: dict[str, tuple[Partition, bytes]] = dataclasses.field(default_factory=dict)
    deletes: dict[str, Partition] = dataclasses.field(default_factory=dict)
    offsets: dict[Partition, int] = dataclasses.field(default_factory=dict)
    handed_over: set[Partition] = dataclasses.field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.puts or self.deletes or self.offsets)


@dataclasses.dataclass
class StoredState:
    """What a store holds for some input partitions: per series its snapshot, partition and
    the offset the snapshot reflects (when known); per partition the offset all states reflect,
    and whether it was handed over (its owner processed nothing after it) rather than written
    by a periodic checkpoint (its owner may have gone on, then died)."""

    states: dict[str, bytes] = dataclasses.field(default_factory=dict)
    partitions: dict[str, Partition] = dataclasses.field(default_factory=dict)
    series_offsets: dict[str, int] = dataclasses.field(default_factory=dict)
    offsets: dict[Partition, int] = dataclasses.field(default_factory=dict)
    handed_over: set[Partition] = dataclasses.field(default_factory=set)

    def add(self, series: str, partition: Partition, value: bytes) -> None:
        snapshot, offset = _unpack(value)
        self.states[series] = snapshot
        self.partitions[series] = partition
        if offset is not None:
            self.series_offsets[series] = offset


class StateStore(abc.ABC):
    """Per-series snapshots and per-partition offsets; see the module docstring."""

    @abc.abstractmethod
    def write(self, changes: StateChanges) -> None:
        """Apply ``changes``; durable once :meth:`flush` returned."""

    @abc.abstractmethod
    def load_partitions(self, partitions: Iterable[Partition]) -> StoredState:
        """Every series state and offset stored for ``partitions``."""

    @abc.abstractmethod
    def get_many(self, series: Iterable[str]) -> dict[str, bytes]:
        """The stored snapshots of those of ``series`` that have one."""

    def put_many(self, states: Mapping[str, tuple[Partition, bytes]]) -> None:
        self.write(StateChanges(puts=dict(states)))
        self.flush()

    def delete_many(self, series: Mapping[str, Partition]) -> None:
        self.write(StateChanges(deletes=dict(series)))
        self.flush()

    def flush(self, timeout: float | None = None) -> None:  # noqa: B027 - optional hook
        """Wait until every write is durable (a no-op where writes are synchronous)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _pack(snapshot: bytes, offset: int | None = None) -> bytes:
    """The stored form of a snapshot reflecting input ``offset``.

    >>> packed = _pack(b"state " * 1000, offset=42)
    >>> len(packed) < 100, _unpack(packed) == (b"state " * 1000, 42)
    (True, True)
    """
    header = _FORMAT_BYTE + _OFFSET.pack(-1 if offset is None else offset)
    return header + zlib.compress(snapshot, 1)


def _unpack(value: bytes) -> tuple[bytes, int | None]:
    if not value.startswith(_FORMAT_BYTE) or len(value) < 1 + _OFFSET.size:
        raise StateStoreError("stored state has an unknown encoding")
    (offset,) = _OFFSET.unpack_from(value, 1)
    inflate = zlib.decompressobj()
    try:
        data = inflate.decompress(value[1 + _OFFSET.size :], MAX_STATE_BYTES)
    except zlib.error as exc:
        raise StateStoreError(f"stored state is corrupt: {exc}") from exc
    if inflate.unconsumed_tail:
        raise StateStoreError(f"stored state is larger than {MAX_STATE_BYTES} bytes")
    return data, (None if offset < 0 else offset)


# --- SQLite ---------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series_state (
    series TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    state BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS series_state_by_partition ON series_state (topic, partition);
CREATE TABLE IF NOT EXISTS partition_offset (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_FORMAT = "lookout-state-store/1"


class SqliteStateStore(StateStore):
    """A state store in one SQLite file (WAL mode: readers do not block the writer).

    Each :meth:`write` is one transaction, so states and offsets never disagree after a crash.
    Besides states and offsets it keeps small ``meta`` text entries (``lookout replay --resume``
    records its progress there, in the same transaction as the states).

    Parameters
    ----------
    path
        The database file (created if missing), or ``":memory:"``.
    busy_timeout
        Seconds to wait for another process holding the write lock.
    """

    def __init__(self, path: str | Path, busy_timeout: float = 30.0):
        self.path = str(path)
        # Rebalance callbacks write from kafka-python's I/O thread; the lock serializes access.
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('format', ?)", (_FORMAT,))
            elif row[0] != _FORMAT:
                raise StateStoreError(f"{self.path} holds {row[0]!r}, not {_FORMAT!r}")
        except sqlite3.DatabaseError as exc:
            raise StateStoreError(f"{self.path} is not a usable state store: {exc}") from exc

    def write(self, changes: StateChanges, meta: Mapping[str, str] | None = None) -> None:
        """Apply ``changes`` (and set ``meta`` entries) in one transaction."""
        with self._lock, self._transaction() as db:
            db.executemany(
                "DELETE FROM series_state WHERE series = ?", [(s,) for s in changes.deletes]
            )
            db.executemany(
                "INSERT OR REPLACE INTO series_state VALUES (?, ?, ?, ?)",
                [
                    (s, t, p, _pack(data, changes.offsets.get((t, p))))
                    for s, ((t, p), data) in changes.puts.items()
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO partition_offset VALUES (?, ?, ?)",
                [(t, p, offset) for (t, p), offset in changes.offsets.items()],
            )
            marks = {_handover_key(p): str(int(p in changes.handed_over)) for p in changes.offsets}
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(marks.items()))
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list((meta or {}).items()))

    def load_partitions(self, partitions: Iterable[Partition]) -> StoredState:
        stored = StoredState()
        with self._lock:
            for topic, partition in sorted(set(partitions)):
                rows = self._db.execute(
                    "SELECT series, state FROM series_state WHERE topic = ? AND partition = ?",
                    (topic, partition),
                )
                for series, value in rows:
                    stored.add(series, (topic, partition), value)
                row = self._db.execute(
                    "SELECT next_offset FROM partition_offset WHERE topic = ? AND partition = ?",
                    (topic, partition),
                ).fetchone()
                if row is not None:
                    stored.offsets[(topic, partition)] = row[0]
                mark = self._db.execute(
                    "SELECT value FROM meta WHERE key = ?", (_handover_key((topic, partition)),)
                ).fetchone()
                if mark is not None and mark[0] == "1":
                    stored.handed_over.add((topic, partition))
        return stored

    def get_many(self, series: Iterable[str]) -> dict[str, bytes]:
        found = {}
        with self._lock:
            for name in series:
                row = self._db.execute(
                    "SELECT state FROM series_state WHERE series = ?", (name,)
                ).fetchone()
                if row is not None:
                    found[name] = _unpack(row[0])[0]
        return found

    def offsets(self) -> dict[Partition, int]:
        """Every stored partition offset."""
        with self._lock:
            rows = self._db.execute("SELECT topic, partition, next_offset FROM partition_offset")
            return {(topic, partition): offset for topic, partition, offset in rows}

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def series_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM series_state").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def _handover_key(partition: Partition) -> str:
    return f"handed_over {partition[0]} {partition[1]}"


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


# --- Kafka ----------------------------------------------------------------------------------


def default_state_topic(topic: str, group_id: str) -> str:
    """The state topic of ``group_id`` consuming ``topic``: one per group, since two groups
    reading one topic (say, with different detector settings) must not share state.

    >>> default_state_topic("metrics", "lookout")
    'metrics.lookout.lookout-state'
    """
    name = f"{topic}.{group_id}.lookout-state"
    if not _TOPIC_NAME.match(name):
        raise StateStoreError(
            f"{name!r} is not a valid topic name; give one with --state-store kafka:TOPIC"
        )
    return name


class KafkaStateStore(StateStore):
    """State in a compacted Kafka topic: partition ``p`` holds input partition ``p``'s series.

    Records: key ``series:<id>`` with the compressed snapshot (a tombstone deletes it) and key
    ``offset:<input topic>`` with ``{"offset": n}``, both written to the partition of the input
    records they reflect, so that reading state partition ``p`` from beginning to end gives
    exactly input partition ``p``'s state, whatever partitioner the producers used. The topic
    is created on first use with :data:`STATE_TOPIC_CONFIG` and the input topic's partition
    count; an existing one must have at least as many partitions.

    Parameters
    ----------
    bootstrap_servers
        ``host:port[,host:port...]``.
    topic
        The state topic.
    input_topic
        The topic whose partitions the states follow.
    security
        SASL/SSL settings (see :data:`stream.runtime.kafka_io.SECURITY_OPTIONS`).
    connect_timeout
        Seconds to wait for a broker at start.
    replication_factor
        Of the state topic when it is created; -1: the broker's default.
    send_timeout
        Seconds a state write may wait for an unreachable broker before it fails.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        input_topic: str,
        security: Mapping[str, Any] | None = None,
        connect_timeout: float = 30.0,
        replication_factor: int = -1,
        send_timeout: float = 120.0,
    ):
        from stream.runtime.kafka_io import Producer, TopicAdmin, TopicReader

        self.topic = topic
        self.input_topic = input_topic
        self.replication_factor = replication_factor
        self._admin = TopicAdmin(bootstrap_servers, security, connect_timeout)
        self._producer = Producer(
            bootstrap_servers,
            security,
            send_timeout=send_timeout,
            connect_timeout=connect_timeout,
            client_id="lookout-state",
        )
        self._reader = TopicReader(bootstrap_servers, security, connect_timeout)
        self._ready = False
        self._offset_key = _OFFSET_KEY + input_topic.encode()

    def _ensure_topic(self) -> None:
        if self._ready:
            return
        needed = self._admin.partition_count(self.input_topic)
        if needed is None:
            raise StateStoreError(f"input topic {self.input_topic!r} does not exist")
        if self._admin.create_topic(
            self.topic, needed, STATE_TOPIC_CONFIG, self.replication_factor
        ):
            log.info("created state topic %s (%d partitions, compacted)", self.topic, needed)
        have = self._admin.partition_count(self.topic)
        if have is None or have < needed:
            raise StateStoreError(
                f"state topic {self.topic!r} has {have} partitions, fewer than the "
                f"{needed} of {self.input_topic!r}"
            )
        policy = self._admin.topic_config(self.topic).get("cleanup.policy", "delete")
        if "compact" not in policy:
            log.warning("state topic %s is not compacted (cleanup.policy=%s)", self.topic, policy)
        self._ready = True

    def _partition(self, partition: Partition) -> int:
        topic, number = partition
        if topic != self.input_topic:
            raise StateStoreError(
                f"{self.topic} holds the state of {self.input_topic}, not of {topic}"
            )
        return number

    def write(self, changes: StateChanges) -> None:
        """Queue the changes, each series before the offset of its partition; :meth:`flush`
        waits for them."""
        if not changes:
            return
        self._ensure_topic()
        send = self._producer.send
        for series, partition in changes.deletes.items():
            send(self.topic, _SERIES_KEY + series.encode(), None, self._partition(partition))
        for series, (partition, data) in changes.puts.items():
            value = _pack(data, changes.offsets.get(partition))
            send(self.topic, _SERIES_KEY + series.encode(), value, self._partition(partition))
        # The producer is idempotent and keeps a partition's order: a partition's offset record
        # is only ever stored after the states it vouches for.
        for partition, offset in changes.offsets.items():
            document = {"offset": offset}
            if partition in changes.handed_over:
                document["handed_over"] = True
            send(self.topic, self._offset_key, orjson.dumps(document), self._partition(partition))

    def flush(self, timeout: float | None = None) -> None:
        """Wait for the queued writes (``FlushTimeout``: still queued, call again)."""
        self._producer.flush(timeout)

    def load_partitions(self, partitions: Iterable[Partition]) -> StoredState:
        self._ensure_topic()
        numbers = {self._partition(partition) for partition in partitions}
        latest: dict[str, tuple[Partition, bytes | None]] = {}
        offsets: dict[Partition, int] = {}
        handed_over: set[Partition] = set()
        for record in self._reader.read(self.topic, numbers):
            partition = (self.input_topic, record.partition)
            key = record.key or b""
            if key.startswith(_SERIES_KEY):
                latest[key[len(_SERIES_KEY) :].decode(errors="replace")] = (partition, record.value)
            elif key == self._offset_key and record.value is not None:
                document = orjson.loads(record.value)
                offsets[partition] = int(document["offset"])
                if document.get("handed_over"):
                    handed_over.add(partition)
                else:
                    handed_over.discard(partition)
        stored = StoredState(offsets=offsets, handed_over=handed_over)
        for series, (partition, value) in latest.items():
            if value is not None:  # a tombstone: deleted
                stored.add(series, partition, value)
        return stored

    def get_many(self, series: Iterable[str]) -> dict[str, bytes]:
        """Reads the whole topic: for tools and tests, not for the live path."""
        self._ensure_topic()
        count = self._admin.partition_count(self.topic) or 0
        stored = self.load_partitions([(self.input_topic, p) for p in range(count)])
        return {name: stored.states[name] for name in series if name in stored.states}

    def close(self) -> None:
        try:
            self._producer.close()
        finally:
            self._reader.close()
            self._admin.close()


# --- from the command line ------------------------------------------------------------------


def open_state_store(
    spec: str,
    *,
    topic: str,
    group_id: str,
    bootstrap_servers: str,
    security: Mapping[str, Any] | None = None,
    connect_timeout: float = 30.0,
) -> StateStore | None:
    """The store that ``--state-store`` names: ``kafka`` (the default state topic, see
    :func:`default_state_topic`), ``kafka:TOPIC``, ``sqlite:PATH`` or ``none`` (None).

    >>> open_state_store("none", topic="metrics", group_id="lookout", bootstrap_servers="")
    >>> open_state_store("sqlite:", topic="metrics", group_id="lookout", bootstrap_servers="")
    Traceback (most recent call last):
    ...
    stream.runtime.state_store.StateStoreError: --state-store sqlite:PATH needs a file name
    """
    kind, _, argument = spec.partition(":")
    if kind == "none" and not argument:
        return None
    if kind == "sqlite":
        if not argument:
            raise StateStoreError("--state-store sqlite:PATH needs a file name")
        return SqliteStateStore(argument)
    if kind == "kafka":
        state_topic = argument or default_state_topic(topic, group_id)
        if not _TOPIC_NAME.match(state_topic):
            raise StateStoreError(f"{state_topic!r} is not a valid topic name")
        return KafkaStateStore(
            bootstrap_servers, state_topic, topic, security, connect_timeout=connect_timeout
        )
    raise StateStoreError(f"--state-store {spec!r}: expected kafka[:TOPIC], sqlite:PATH or none")

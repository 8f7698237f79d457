"""Thin wrappers around kafka-python; the only module that imports ``kafka``.

The rest of Lookout sees :class:`Record` (plain bytes and coordinates), ``(topic, partition)``
tuples and the exceptions below, never a kafka-python object::

    KafkaIOError
     +-- KafkaUnavailable   no broker answered while connecting
     +-- DeliveryError      a produced message was not acknowledged
     +-- FlushTimeout       not acknowledged *yet*: the messages are still queued, flush again

Security settings (SASL, SSL) are passed through to kafka-python under its own names, see
:data:`SECURITY_OPTIONS`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

__all__ = [
    "SECURITY_OPTIONS",
    "KafkaIOError",
    "KafkaUnavailable",
    "DeliveryError",
    "FlushTimeout",
    "Record",
    "Consumer",
    "Producer",
    "TopicReader",
    "TopicAdmin",
    "security_options",
]

#: Seconds a new consumer waits for its topics' metadata before joining its group.
METADATA_WAIT = 5.0
#: Seconds between heartbeats at most, and seconds without an answer to one after which the
#: broker counts as not answering (:meth:`Consumer.answering`): a frozen broker keeps its TCP
#: connections open, so only missing answers tell.
HEARTBEAT_INTERVAL = 1.0
ANSWER_DEADLINE = 3.0

log = logging.getLogger(__name__)


class StaticFirst:
    """kafka-python's range and round-robin assignors, given the members with the static ones
    (``group_instance_id`` set) first: they group the members with ``itertools.groupby`` on
    "is static" without sorting, so in a group that mixes both kinds in another order (a
    static process restarted between two dynamic ones) a whole run of members is dropped and
    gets no partitions at all (seen: 3 + 3 + 0 partitions over three members). The protocol
    names stay ``range`` and ``roundrobin``: any member may be the leader.

    >>> from types import SimpleNamespace as S
    >>> class Cluster:
    ...     def partitions_for_topic(self, topic):
    ...         return set(range(6))
    >>> def member(member_id, instance=None):
    ...     return S(member_id=member_id, group_instance_id=instance, metadata=S(topics=["m"]))
    >>> mixed = [member("b"), member("a", "main"), member("c")]
    >>> def shares(assignor):
    ...     assigned = assignor.assign(Cluster(), mixed).values()
    ...     return sorted(sum(len(ps) for _, ps in a.assignment) for a in assigned)
    >>> shares(RangePartitionAssignor), shares(RoundRobinPartitionAssignor)
    ([0, 3, 3], [0, 3, 3])
    >>> shares(StaticRange), shares(StaticRoundRobin)
    ([2, 2, 2], [2, 2, 2])
    """

    @classmethod
    def assign(cls, cluster, members):
        members = sorted(members, key=lambda member: member.group_instance_id is None)
        return super().assign(cluster, members)


class StaticRange(StaticFirst, RangePartitionAssignor):
    """Range assignment with the static members first (:class:`StaticFirst`)."""


class StaticRoundRobin(StaticFirst, RoundRobinPartitionAssignor):
    """Round-robin assignment with the static members first (:class:`StaticFirst`)."""


#: kafka-python client settings that ``security`` mappings may carry (None values are left out).
SECURITY_OPTIONS = (
    "security_protocol",
    "sasl_mechanism",
    "sasl_plain_username",
    "sasl_plain_password",
    "sasl_kerberos_service_name",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_check_hostname",
)

Partition = tuple[str, int]

#: Longest pause between reconnection attempts to a broker that went away (kafka-python's default
#: of 30 s would leave Lookout idle for up to half a minute after a broker is back).
RECONNECT_BACKOFF_MAX = 2.0


class KafkaIOError(Exception):
    """A Kafka operation failed; the message says which and why."""


class KafkaUnavailable(KafkaIOError):
    """No broker answered at ``bootstrap_servers``."""


class DeliveryError(KafkaIOError):
    """At least one produced message was not acknowledged by the broker."""


class FlushTimeout(KafkaIOError):
    """A flush ran out of time: the messages are still queued and will be retried until the
    producer's delivery timeout (then :class:`DeliveryError`); flush again to keep waiting."""


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One consumed message: where it came from, its raw key and value, its Kafka timestamp."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int = -1


def security_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The SASL/SSL entries of ``settings`` that are set, for a kafka-python client.

    Examples
    --------
    >>> security_options({"security_protocol": "SASL_SSL", "ssl_cafile": None, "topic": "x"})
    {'security_protocol': 'SASL_SSL'}
    """
    return {name: settings[name] for name in SECURITY_OPTIONS if settings.get(name) is not None}


def _unavailable(bootstrap_servers: str, exc: Exception) -> KafkaUnavailable:
    return KafkaUnavailable(f"no Kafka broker reachable at {bootstrap_servers}: {exc}")


def _connect(
    client_class: type,
    what: str,
    bootstrap_servers: str,
    client_id: str,
    security: Mapping[str, Any] | None,
    connect_timeout: float,
    **settings: Any,
) -> Any:
    """A kafka-python client (``what`` names it in errors) with the settings every client of
    Lookout shares; no broker in ``connect_timeout`` seconds raises :class:`KafkaUnavailable`,
    anything else :class:`KafkaIOError`."""
    try:
        return client_class(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            bootstrap_timeout_ms=int(connect_timeout * 1000),
            **settings,
            **security_options(security or {}),
        )
    except KafkaTimeoutError as exc:
        raise _unavailable(bootstrap_servers, exc) from exc
    except KafkaError as exc:
        raise KafkaIOError(f"cannot create {what}: {exc}") from exc


class Consumer:
    """A consumer-group member reading ``topics`` in batches, committing only what it is told.

    Auto-commit is off: :meth:`commit` stores exactly the offsets given, which the caller passes
    only after a batch's outputs were delivered. The rebalance callbacks run on kafka-python's
    I/O thread while the thread that called :meth:`poll` (or :meth:`close`) waits for it:
    ``on_assigned`` with the partitions received (before any of their records is returned),
    ``on_revoked`` with the partitions given up in a rebalance or at close (their offsets can
    still be committed; ``commit_async`` is safe there, a blocking :meth:`commit` is not) and
    ``on_lost`` with the partitions taken away after this member was evicted from the group
    (another member may own them already: nothing may be committed for them). Until
    ``on_lost`` is set, lost partitions go to ``on_revoked``. The callbacks block heartbeats
    while they run, so they must finish well within ``session_timeout``.

    Parameters
    ----------
    topics
        Topics to subscribe to.
    bootstrap_servers
        ``host:port[,host:port...]``.
    group_id
        Consumer group; every member shares the partitions.
    security
        SASL/SSL settings, see :data:`SECURITY_OPTIONS`.
    auto_offset_reset
        Where a group without committed offsets starts: ``"earliest"`` or ``"latest"``.
    max_poll_records
        Most records returned by one :meth:`poll`.
    session_timeout
        Seconds without heartbeat after which the group gives this member's partitions away.
    connect_timeout
        Seconds to wait for a broker at start.
    on_revoked
        Called with ``[(topic, partition), ...]`` when partitions are revoked; an attribute,
        so that the object that owns the offsets can set it later (so are ``on_assigned``
        and ``on_lost``).
    reconnect_backoff_max
        Longest pause in seconds between attempts to reconnect to a broker.
    group_instance_id
        Static membership: an id unique to this instance that stays the same across its
        restarts. A restarted instance gets its partitions back at once, without a rebalance;
        one that stopped keeps them (unconsumed) until ``session_timeout``.
    """

    def __init__(
        self,
        topics: Iterable[str],
        bootstrap_servers: str,
        group_id: str,
        security: Mapping[str, Any] | None = None,
        auto_offset_reset: str = "earliest",
        max_poll_records: int = 500,
        session_timeout: float = 10.0,
        connect_timeout: float = 30.0,
        client_id: str = "lookout",
        on_revoked: Callable[[list[Partition]], None] | None = None,
        reconnect_backoff_max: float = RECONNECT_BACKOFF_MAX,
        group_instance_id: str | None = None,
    ):
        self.topics = list(topics)
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        session_ms = int(session_timeout * 1000)
        self._consumer = _connect(
            KafkaConsumer, "consumer", bootstrap_servers, client_id, security, connect_timeout,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            max_poll_records=max_poll_records,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(min(session_ms // 6, int(HEARTBEAT_INTERVAL * 1000)), 100),
            reconnect_backoff_max_ms=int(reconnect_backoff_max * 1000),
            group_instance_id=group_instance_id,
            partition_assignment_strategy=(StaticRange, StaticRoundRobin),
        )  # fmt: skip
        self.on_revoked = on_revoked
        self.on_assigned: Callable[[list[Partition]], None] | None = None
        self.on_lost: Callable[[list[Partition]], None] | None = None
        self._fetched: dict[Partition, int] = {}
        self._fetched_lock = threading.Lock()
        self._await_metadata(min(connect_timeout, METADATA_WAIT))
        self._consumer.subscribe(self.topics, listener=_Listener(self))

    def _await_metadata(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) until the brokers describe every topic: a group
        joined before the metadata of a just-created topic arrived is assigned nothing, and
        kafka-python does not rejoin when the metadata comes. A topic still unknown then (not
        created yet) is subscribed to all the same."""
        deadline = time.monotonic() + timeout
        for topic in self.topics:
            while not self._consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
                time.sleep(0.1)

    def poll(self, timeout: float, max_records: int | None = None) -> list[Record]:
        """Up to ``max_records`` records, waiting at most ``timeout`` seconds for the first."""
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        except KafkaError as exc:
            if exc.retriable:  # the broker went away (a restart): reconnecting is retried
                log.warning("poll: %r (retrying)", exc)
                time.sleep(min(timeout, 1.0))
                return []
            # e.g. a rebalance callback failed: its error is the cause
            raise KafkaIOError(f"poll failed: {exc}") from exc
        records = []
        for partition, messages in batches.items():
            for message in messages:
                records.append(
                    Record(
                        message.topic,
                        message.partition,
                        message.offset,
                        message.key,
                        message.value,
                        message.timestamp,
                    )
                )
            if messages:
                with self._fetched_lock:
                    self._fetched[(partition.topic, partition.partition)] = messages[-1].offset + 1
        return records

    def commit(self, offsets: Mapping[Partition, int], timeout: float = 30.0) -> bool:
        """Commit ``{(topic, partition): next offset}``; False if the group refused it.

        A refusal (a rebalance in progress, this member fenced, a timeout) is not an error in
        an at-least-once consumer: the partitions' new owner starts from the last commit.
        """
        if not offsets:
            return True
        try:
            self._consumer.commit(_kafka_offsets(offsets), timeout_ms=int(timeout * 1000))
        except KafkaError as exc:
            log.warning("offset commit failed (the batch may be consumed again): %r", exc)
            return False
        return True

    def commit_async(self, offsets: Mapping[Partition, int]) -> None:
        """Send a commit without waiting; for rebalance callbacks."""
        if offsets:
            self._consumer.commit_async(_kafka_offsets(offsets))

    def assignment(self) -> set[Partition]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def connected(self) -> bool:
        """The group coordinator is known and reachable (False while the brokers are away)."""
        return not self._consumer._coordinator.coordinator_unknown()

    def answering(self) -> bool:
        """The group coordinator answered a heartbeat (or the group was joined) within the last
        :data:`ANSWER_DEADLINE` seconds. Cheap and thread-safe: it reads two timestamps."""
        heartbeat = self._consumer._coordinator.heartbeat
        answered = max(heartbeat.last_receive, heartbeat.last_reset)
        return time.monotonic() - answered <= ANSWER_DEADLINE

    def end_offsets(
        self, partitions: Iterable[Partition], timeout: float = 5.0
    ) -> dict[Partition, int]:
        """The offset after the last record of each partition; ``KafkaIOError`` when the
        broker does not tell within ``timeout`` seconds."""
        try:
            ends = self._consumer.end_offsets(
                [TopicPartition(topic, number) for topic, number in partitions],
                timeout_ms=int(timeout * 1000),
            )
        except KafkaError as exc:
            raise KafkaIOError(f"end offsets: {exc}") from exc
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    def lags(self) -> dict[Partition, int]:
        """Messages behind the high watermark, for assigned partitions fetched at least once."""
        lags = {}
        for tp in self._consumer.assignment():
            key = (tp.topic, tp.partition)
            with self._fetched_lock:
                position = self._fetched.get(key)
            highwater = self._consumer.highwater(tp)
            if position is not None and highwater is not None:
                lags[key] = max(highwater - position, 0)
        return lags

    def _forget(self, partitions: Iterable[Partition]) -> None:
        with self._fetched_lock:
            for partition in partitions:
                self._fetched.pop(partition, None)

    def close(self, timeout: float = 10.0) -> None:
        """Leave the group (its partitions are reassigned at once) without committing."""
        self._consumer.close(autocommit=False, timeout_ms=int(timeout * 1000))


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: Consumer):
        self.owner = owner

    def on_partitions_revoked(self, revoked):
        partitions = sorted((tp.topic, tp.partition) for tp in revoked)
        self.owner._forget(partitions)
        if self.owner.on_revoked is not None and partitions:
            self.owner.on_revoked(partitions)

    def on_partitions_assigned(self, assigned):
        partitions = sorted((tp.topic, tp.partition) for tp in assigned)
        log.info("assigned partitions %s", partitions)
        if self.owner.on_assigned is not None:  # even none: the owner learns it has none
            self.owner.on_assigned(partitions)

    def on_partitions_lost(self, lost):
        if self.owner.on_lost is None:
            return self.on_partitions_revoked(lost)
        partitions = sorted((tp.topic, tp.partition) for tp in lost)
        log.warning("lost partitions %s (evicted from the group)", partitions)
        self.owner._forget(partitions)
        if partitions:
            self.owner.on_lost(partitions)


def _kafka_offsets(offsets: Mapping[Partition, int]) -> dict[TopicPartition, OffsetAndMetadata]:
    return {
        TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
        for (topic, partition), offset in offsets.items()
    }


class Producer:
    """Sends messages and, on :meth:`flush`, waits until the broker acknowledged all of them.

    ``acks="all"`` with idempotence: an acknowledged message is on every in-sync replica, and
    retries neither duplicate nor reorder messages of a partition.

    Parameters
    ----------
    bootstrap_servers
        ``host:port[,host:port...]``.
    security
        SASL/SSL settings, see :data:`SECURITY_OPTIONS`.
    linger
        Seconds a message may wait to share a request with others.
    send_timeout
        Seconds :meth:`send` may block on metadata or a full buffer, and a message may take to
        be acknowledged.
    connect_timeout
        Seconds to wait for a broker at start.
    reconnect_backoff_max
        Longest pause in seconds between attempts to reconnect to a broker.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        security: Mapping[str, Any] | None = None,
        linger: float = 0.005,
        send_timeout: float = 30.0,
        connect_timeout: float = 30.0,
        client_id: str = "lookout",
        reconnect_backoff_max: float = RECONNECT_BACKOFF_MAX,
    ):
        self.bootstrap_servers = bootstrap_servers
        timeout_ms = int(send_timeout * 1000)
        linger_ms = int(linger * 1000)
        request_ms = min(timeout_ms, 30000)
        self._producer = _connect(
            KafkaProducer, "producer", bootstrap_servers, client_id, security, connect_timeout,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_block_ms=timeout_ms,
            request_timeout_ms=request_ms,
            delivery_timeout_ms=max(timeout_ms, request_ms + linger_ms),
            reconnect_backoff_max_ms=int(reconnect_backoff_max * 1000),
        )  # fmt: skip
        self._pending: list[Any] = []
        self.send_timeout = send_timeout

    @property
    def pending(self) -> int:
        """Messages sent since the last :meth:`flush`."""
        return len(self._pending)

    def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None
    ) -> None:
        """Queue one message (to ``partition``, else the key's); :meth:`flush` tells whether it
        arrived."""
        try:
            self._pending.append(
                self._producer.send(topic, value=value, key=key, partition=partition)
            )
        except KafkaError as exc:
            raise DeliveryError(f"cannot send to {topic!r}: {exc}") from exc

    def flush(self, timeout: float | None = None) -> int:
        """Wait for every queued message; the number delivered, or :class:`DeliveryError`.

        :class:`FlushTimeout` when ``timeout`` (default: ``send_timeout``) passed first: the
        messages stay queued, and the next flush waits for them again.
        """
        if not self._pending:
            return 0
        try:
            self._producer.flush(timeout=timeout if timeout is not None else self.send_timeout)
        except KafkaTimeoutError as exc:
            raise FlushTimeout(
                f"{len(self._pending)} messages not acknowledged yet: {exc}"
            ) from exc
        except KafkaError as exc:
            pending, self._pending = self._pending, []
            raise DeliveryError(f"{len(pending)} messages not acknowledged: {exc}") from exc
        pending, self._pending = self._pending, []
        failed = [future for future in pending if not future.succeeded()]
        if failed:
            raise DeliveryError(
                f"{len(failed)} of {len(pending)} messages not acknowledged: "
                f"{failed[0].exception!r}"
            )
        return len(pending)

    def close(self, timeout: float = 10.0) -> None:
        self._producer.close(timeout=timeout)


class TopicReader:
    """Reads chosen partitions of a topic from their beginning to their end, outside any group.

    For state topics: what :meth:`read` returns is everything written before it was called.
    Record CRCs are not checked: kafka-python computes them in pure Python unless the
    ``crc32c`` package is installed, which makes reading megabytes of state 25 times slower,
    and the broker checked them when they were written (state values carry their own zlib
    checksum besides).

    Parameters
    ----------
    bootstrap_servers
        ``host:port[,host:port...]``.
    security
        SASL/SSL settings, see :data:`SECURITY_OPTIONS`.
    connect_timeout
        Seconds to wait for a broker at start.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        security: Mapping[str, Any] | None = None,
        connect_timeout: float = 30.0,
        client_id: str = "lookout-state",
        reconnect_backoff_max: float = RECONNECT_BACKOFF_MAX,
    ):
        self._consumer = _connect(
            KafkaConsumer, "consumer", bootstrap_servers, client_id, security, connect_timeout,
            group_id=None,
            enable_auto_commit=False,
            check_crcs=False,
            reconnect_backoff_max_ms=int(reconnect_backoff_max * 1000),
        )  # fmt: skip

    def read(self, topic: str, partitions: Iterable[int], timeout: float = 120.0) -> list[Record]:
        """Every record of ``topic``'s ``partitions``, in offset order per partition."""
        assigned = [TopicPartition(topic, partition) for partition in sorted(set(partitions))]
        if not assigned:
            return []
        deadline = time.monotonic() + timeout
        try:
            self._consumer.assign(assigned)
            self._consumer.seek_to_beginning(*assigned)
            end = self._consumer.end_offsets(assigned, timeout_ms=int(timeout * 1000))
            records: list[Record] = []
            # A compacted partition has gaps, so the position (not a count) says when it is done.
            while any(self._consumer.position(tp) < end[tp] for tp in assigned):
                if time.monotonic() > deadline:
                    raise KafkaIOError(f"reading {topic!r} took more than {timeout} s")
                for tp, messages in self._consumer.poll(timeout_ms=500).items():
                    records += (
                        Record(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp)
                        for m in messages
                        if m.offset < end[tp]
                    )
            return records
        except KafkaError as exc:
            raise KafkaIOError(f"cannot read {topic!r}: {exc}") from exc
        finally:
            self._consumer.assign([])

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class TopicAdmin:
    """Topic metadata and creation.

    Parameters
    ----------
    bootstrap_servers
        ``host:port[,host:port...]``.
    security
        SASL/SSL settings, see :data:`SECURITY_OPTIONS`.
    connect_timeout
        Seconds to wait for a broker at start.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        security: Mapping[str, Any] | None = None,
        connect_timeout: float = 30.0,
        client_id: str = "lookout-admin",
    ):
        self._admin = _connect(
            KafkaAdminClient, "admin client", bootstrap_servers, client_id, security,
            connect_timeout,
        )  # fmt: skip

    def partition_count(self, topic: str) -> int | None:
        """Partitions of ``topic``; None when it does not exist."""
        try:
            (described,) = self._admin.describe_topics([topic])
        except KafkaError as exc:
            raise KafkaIOError(f"cannot describe {topic!r}: {exc}") from exc
        if described.get("error_code"):
            return None
        return len(described["partitions"])

    def topic_config(self, topic: str) -> dict[str, str]:
        """The settings of ``topic`` that differ from the broker's defaults."""
        resource = ConfigResource(ConfigResourceType.TOPIC, topic)
        try:
            described = self._admin.describe_configs([resource])
        except KafkaError as exc:
            raise KafkaIOError(f"cannot describe the configuration of {topic!r}: {exc}") from exc
        entries = described.get("topic", {}).get(topic, {})
        return {name: entry["value"] for name, entry in entries.items()}

    def create_topic(
        self,
        topic: str,
        partitions: int,
        config: Mapping[str, str] | None = None,
        replication_factor: int = -1,
    ) -> bool:
        """Create ``topic``; False if it existed already. ``replication_factor=-1``: the
        broker's ``default.replication.factor``."""
        request = {
            topic: {
                "num_partitions": partitions,
                "replication_factor": replication_factor,
                "configs": dict(config or {}),
            }
        }
        try:
            self._admin.create_topics(request, wait_for_metadata=True)
        except TopicAlreadyExistsError:
            return False
        except KafkaError as exc:
            raise KafkaIOError(f"cannot create topic {topic!r}: {exc}") from exc
        return True

    def close(self) -> None:
        self._admin.close()

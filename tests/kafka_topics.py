"""Reading a whole topic in integration tests, outside any consumer group."""

from __future__ import annotations

import time


def read_records(bootstrap: str, topic: str, timeout: float) -> list:
    """Every record of ``topic``, each partition from its beginning to its end offset.

    CRCs are not checked: kafka-python computes them in pure Python without ``crc32c``, and the
    broker checked them on write.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, check_crcs=False
    )
    try:
        deadline = time.monotonic() + timeout
        while (partitions := consumer.partitions_for_topic(topic)) is None:
            assert time.monotonic() < deadline, f"topic {topic} never appeared"
            time.sleep(0.2)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        records = []
        while any(consumer.position(tp) < end[tp] for tp in assigned):
            assert time.monotonic() < deadline, f"{topic}: read {len(records)} before timeout"
            for batch in consumer.poll(timeout_ms=500).values():
                records += batch
        return records
    finally:
        consumer.close()

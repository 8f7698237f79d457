"""Chaos: ``lookout run`` processes against a real broker and Alertmanager while everything
that can go wrong does.

While a producer sends points of ``--series`` series (an incident in every third one), the
benchmark:

- kills the scoring process with ``kill -9`` ``--kills`` times at random moments (static
  membership, so the restart takes its partitions back at once) and restarts it;
- freezes the broker (SIGSTOP for ``--freeze`` seconds, then SIGCONT) and kills it (``kill -9``,
  then starts it again);
- scales out 1 -> 3 processes and back to 1;
- interleaves ``--bad`` bad messages: malformed JSON, missing fields, NaN/inf, strings, 1e308
  values and timestamps, epoch milliseconds, negative and far-future times, duplicates, out of
  order, 5 MB, binary, empty, wrong keys. Bad *times* go to the good series (they must not make
  them refuse later points); odd values go to junk series of their own (a 1e308 value is a
  valid number, scored in its series).

Afterwards it reads every output and prints: points produced / scored / scored twice / lost,
scores that differ from a one-process replay, Alertmanager notifications per incident (its
webhook receiver), dead letters by reason, restarts, crashes (processes that exited by
themselves) and the recovery seconds of each kill (kill -> first point scored after it).
Recovery is the kill to the restarted process's first point scored (from its log). Targets:
0 lost, 0 crashes, exactly one firing and one resolved notification per incident, recovery
under 3 s with static membership.

Run: ``.venv/bin/python bench/chaos.py [--series 12] [--steps 700] [--kills 6] [--bad 10000]``
(a few minutes; it starts its own broker and Alertmanager on free loopback ports).
``tests/test_chaos.py`` runs a short variant on the test services.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import math
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
import pandas as pd  # noqa: E402

from scripts.lookout_services import AlertWebhookReceiver  # noqa: E402
from scripts.lookout_services.lookout_process import LookoutProcess  # noqa: E402

# Crash safety, not detection rates: count every 1-minute point (paging_interval 0) so the
# short bursts page.
STACK_OPTIONS = ["--grace-period", "50", "--cooldown", "0", "--paging-interval", "0"]
START = 1_700_000_000  # event time of the first point; one point per series per minute
FIVE_MB = 5 * 1024 * 1024
TOPIC_CONFIG = {"max.message.bytes": str(8 * 1024 * 1024)}  # so that 5 MB messages get in


# --- data -----------------------------------------------------------------------------------


#: Steps at which every third series has an incident (a level shift: the detectors fire at its
#: first point and resolve at the next).
INCIDENTS = (range(100, 130), range(500, 530))
#: Seconds the producer waits after an incident's first point, so that Alertmanager (which
#: waits a second before it notifies) sees it fire before it resolves, and a kill can come
#: in between.
INCIDENT_PAUSE = 3.0
#: The broker and scale events, each this many steps after the previous one is over (the first
#: after the first incident, which a kill interrupts).
EVENTS = ((160, "freeze"), (30, "broker kill"), (30, "scale out"), (40, "scale in"))


def value(series: int, step: int) -> float:
    """Seasonal noise, with a burst in every third series during the :data:`INCIDENTS`."""
    rng = random.Random(series * 100_003 + step)
    level = 100 + 20 * series + 10 * math.sin(step / (7 + series))
    burst = 80 if series % 3 == 0 and any(step in steps for steps in INCIDENTS) else 0
    return round(level + rng.gauss(0, 1.5) + burst, 3)


def names(n_series: int) -> list[str]:
    return [f"svc{s:02d}" for s in range(n_series)]


#: Bad message kinds: name -> (key, value) maker from (rng, series name, step).
def _bad_kinds() -> dict:
    t = lambda step: START + 60 * step  # noqa: E731 - the time of a good step

    def point(**fields) -> bytes:
        return orjson.dumps(fields)

    def one(series: str, timestamp: object, value: object, **more) -> bytes:
        return point(series=series, timestamp=timestamp, value=value, **more)

    def later() -> float:
        return (time.time() + 86400 * 400) * 1000  # epoch ms, a year ahead

    def big(s: str) -> bytes:
        return b'{"series": "' + s.encode() + b'", "pad": "' + b"x" * FIVE_MB + b'"}'

    return {
        "malformed_json": lambda r, s, k: (s, b'{"series": "' + s.encode() + b'", "timest'),
        "missing_field": lambda r, s, k: (s, point(series=s, value=1.0)),
        "nan_literal": lambda r, s, k: (s, f'{{"timestamp": {t(k)}, "value": NaN}}'.encode()),
        "inf_literal": lambda r, s, k: (s, f'{{"timestamp": {t(k)}, "value": -inf}}'.encode()),
        "nan_string": lambda r, s, k: (s, point(series=s, timestamp=t(k), value="NaN")),
        "string_value": lambda r, s, k: (s, point(series=s, timestamp=t(k), value="high")),
        "string_time": lambda r, s, k: (s, point(series=s, timestamp="soon", value=1)),
        "huge_value": lambda r, s, k: (b"junk-huge", one("junk-huge", t(k), 1e308)),
        "huge_time": lambda r, s, k: (s, point(series=s, timestamp=1e308, value=1)),
        "epoch_ms_future": lambda r, s, k: (s, one(s, later(), 101)),
        "epoch_ms_junk": lambda r, s, k: (b"junk-ms", one("junk-ms", t(k) * 1000, 1.0 + k % 5)),
        "negative_time": lambda r, s, k: (s, point(series=s, timestamp=-60 * k, value=1)),
        "far_future": lambda r, s, k: (s, one(s, "2999-01-01T00:00:00Z", 1)),
        "duplicate": lambda r, s, k: (s, point(series=s, timestamp=t(max(k - 1, 0)), value=-1.0)),
        "out_of_order": lambda r, s, k: (s, one(s, t(max(k - 30, 0)) + 1, -1.0)),
        "binary": lambda r, s, k: (s, bytes(r.getrandbits(8) for _ in range(40))),
        "empty": lambda r, s, k: (s, b""),
        "tombstone": lambda r, s, k: (s, None),
        "wrong_keys": lambda r, s, k: (s, point(name=s, ts=t(k), val=1.0)),
        "bad_series": lambda r, s, k: (None, point(series=5, timestamp=t(k), value=1)),
        "bad_labels": lambda r, s, k: (s, one(s, t(k), 1, labels={"__x": 1})),
        "five_mb": lambda r, s, k: (s, big(s)),
    }  # fmt: skip


BAD_KINDS = _bad_kinds()
MAX_FIVE_MB = 3  # each is 5 MB on the broker and in every consumer's fetch


def bad_schedule(rng: random.Random, n_bad: int, steps: int) -> dict[int, list[str]]:
    """step -> the bad message kinds sent with it (``n_bad`` in all, kinds in turn)."""
    kinds = [k for k in BAD_KINDS if k != "five_mb"]
    schedule: dict[int, list[str]] = collections.defaultdict(list)
    big = min(MAX_FIVE_MB, n_bad // 1000 + 1) if n_bad else 0
    for i in range(n_bad):
        kind = "five_mb" if i < big else kinds[i % len(kinds)]
        schedule[rng.randrange(1, steps)].append(kind)
    return schedule


class PointProducer(threading.Thread):
    """Sends one good point of every series per tick, keyed by series, and the bad messages of
    the schedule with it, for at least ``steps`` ticks and until :meth:`finish`."""

    def __init__(self, bootstrap, topic, n_series, steps, tick, bad, seed=1):
        super().__init__(daemon=True)
        from kafka import KafkaProducer

        self.topic, self.n_series, self.steps, self.tick = topic, n_series, steps, tick
        self.rng = random.Random(seed)
        self.bad = bad
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=5,
            delivery_timeout_ms=300_000,
            request_timeout_ms=30_000,
            reconnect_backoff_max_ms=1000,
            max_request_size=8 * 1024 * 1024,
            max_block_ms=300_000,
        )
        self.sent = self.bad_sent = 0
        self.until: int | None = None  # the last step + 1, once known
        self.bad_refused: collections.Counter = collections.Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            series = names(self.n_series)
            step = 0
            while step < self.steps or self.until is None or step < self.until:
                for s, name in enumerate(series):
                    point = {
                        "series": name,
                        "timestamp": START + 60 * step,
                        "value": value(s, step),
                    }
                    self.producer.send(self.topic, key=name.encode(), value=orjson.dumps(point))
                for kind in self.bad.get(step, ()):
                    name = series[self.rng.randrange(len(series))]
                    key, payload = BAD_KINDS[kind](self.rng, name, step)
                    key = key.encode() if isinstance(key, str) else key
                    future = self.producer.send(self.topic, key=key, value=payload)
                    future.add_errback(lambda exc, kind=kind: self.bad_refused.update([kind]))
                    self.bad_sent += 1
                step = self.sent = step + 1
                time.sleep(self.tick)  # no burst to catch up after the broker held it up
                if any(step - 1 == steps.start for steps in INCIDENTS):
                    time.sleep(INCIDENT_PAUSE)
            self.producer.flush(timeout=300)
        except BaseException as exc:  # reported by the caller
            self.error = exc
        finally:
            self.producer.close(timeout=10)

    def finish(self, more: int = 30, timeout: float = 600) -> int:
        """Stop ``more`` steps from now (at ``steps`` at the earliest, and never inside an
        incident or the ``more`` steps after it: an incident cut short by the end of the run
        never resolves, and the run cannot tell whether it was notified once); the steps
        sent."""
        until = max(self.steps, self.sent + more)
        for incident in INCIDENTS:
            if incident.start <= until < incident.stop + more:
                until = incident.stop + more
        self.until = until
        self.join(timeout)
        if self.is_alive() or self.error is not None:
            raise RuntimeError(f"producer failed: {self.error!r}")
        return self.sent


def reference(
    work: Path, n_series: int, steps: int, value_of: Callable[[int, int], float] | None = None
) -> tuple[dict, set]:
    """Scores per (series, timestamp) and the (alert_id, status) set of a one-process replay
    of the good points (``value_of(series, step)``, :func:`value` by default): what a live
    run that loses and repeats nothing must produce."""
    from stream.cli import main

    value_of = value if value_of is None else value_of
    rows = [
        (f"svc{s:02d}", START + 60 * step, value_of(s, step))
        for step in range(steps)
        for s in range(n_series)
    ]
    data = work / "reference-data"
    data.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["series", "timestamp", "value"]).to_csv(
        data / "points.csv", index=False
    )
    out = work / "reference"
    argv = ["replay", str(data), "--out", str(out), "--duplicates", "reject", "--no-progress"]
    argv += ["--join-series"]  # the series are named as the live keys are
    assert main([*argv, *STACK_OPTIONS]) == 0
    frame = pd.read_csv(out / "points.csv")
    scores = {
        (series, float(t)): score
        for series, t, score in zip(
            frame["series"], frame["timestamp"], frame["anomaly_score"], strict=True
        )
    }
    alerts = {
        (a["alert_id"], a["status"])
        for a in map(orjson.loads, (out / "alerts.jsonl").read_bytes().splitlines())
    }
    return scores, alerts


# --- processes ------------------------------------------------------------------------------


@dataclasses.dataclass
class Topics:
    metrics: str
    scores: str
    alerts: str
    dead: str
    group: str

    @classmethod
    def fresh(cls) -> Topics:
        run = uuid.uuid4().hex[:8]
        return cls(*(f"chaos-{kind}-{run}" for kind in ("metrics", "scores", "alerts", "dead")),
                   group=f"chaos-{run}")  # fmt: skip


class Lookout(LookoutProcess):
    """One ``lookout run`` of the chaos run: the stack's options and large batches."""

    def __init__(self, work: Path, name: str, bootstrap: str, topics: Topics, *options: str):
        super().__init__(
            work, name, bootstrap, topics,
            "--batch-size", "200",
            "--max-message-bytes", str(FIVE_MB // 2),
            *STACK_OPTIONS,
            *options,
        )  # fmt: skip


class Supervisor(threading.Thread):
    """Restarts a process that exited by itself (a crash), as an orchestrator would, and
    counts it."""

    def __init__(self, processes: list[Lookout]):
        super().__init__(daemon=True)
        self.processes, self.crashes, self.done = processes, [], threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            for process in list(self.processes):
                if process.crashed():
                    self.crashes.append((process.name, process.process.returncode, process.logs()))
                    process.start()


# --- the run --------------------------------------------------------------------------------


@dataclasses.dataclass
class Settings:
    series: int = 12
    steps: int = 700
    tick: float = 0.1
    kills: int = 6
    bad: int = 10_000
    freeze: float = 8.0
    partitions: int = 6
    seed: int = 7
    static: int = 1  # 1: the scoring process has a --group-instance-id; 0: dynamic membership
    work: str = ""  # keep the processes' logs in this folder (default: a temporary one)


@dataclasses.dataclass
class Result:
    produced: int = 0
    scored: int = 0
    scored_twice: int = 0
    lost: int = 0
    differing: int = 0
    incidents: int = 0
    notifications: dict = dataclasses.field(default_factory=dict)  # (series, start) -> Counter
    dead_letters: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    dead_letters_written: int = 0  # with the repeats of records consumed again after a crash
    bad_sent: int = 0
    bad_refused_by_broker: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    restarts: int = 0
    crashes: list = dataclasses.field(default_factory=list)
    recovery: list = dataclasses.field(default_factory=list)
    good_notified: int = 0  # incidents of the good series notified (junk series alert too)
    planned: int = 0  # incidents of INCIDENTS in the reference
    planned_notified: int = 0
    alert_event_ids: int = 0
    expected_alert_events: int = 0
    seconds: float = 0.0

    @property
    def paged_once(self) -> bool:
        """No incident notified more than once firing or resolved, every one notified firing
        notified resolved, and one notification at least per planned incident (those of
        :data:`INCIDENTS`, which last seconds: Alertmanager does not notify an alert that
        resolves within its group wait, as the detectors' one-point alerts may in a backlog)."""
        return (
            all(counts == {"firing": 1, "resolved": 1} for counts in self.notifications.values())
            and self.planned_notified == self.planned
        )

    def format(self) -> str:
        per_incident = collections.Counter(
            f"{c['firing']} firing + {c['resolved']} resolved" for c in self.notifications.values()
        )
        recovery = ", ".join(f"{r:.1f}" for r in self.recovery) or "-"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.dead_letters.items()))
        refused = ", ".join(f"{k} {v}" for k, v in sorted(self.bad_refused_by_broker.items()))
        return "\n".join(
            [
                f"points produced      {self.produced}",
                f"points scored        {self.scored} (lost {self.lost}, scored twice "
                f"{self.scored_twice}, score differing from the replay {self.differing})",
                f"incidents            {self.incidents} ({self.planned} planned, "
                f"{self.planned_notified} of them notified); notifications per notified "
                "incident: "
                + (", ".join(f"{n} x {k}" for k, v in per_incident.items() for n in [v]) or "-")
                + f"; incidents not notified: {self.incidents - self.good_notified}",
                f"alert events         {self.alert_event_ids} distinct event_ids "
                f"(replay: {self.expected_alert_events})",
                f"bad messages         {self.bad_sent} sent"
                + (f", refused by the broker: {refused}" if refused else ""),
                f"dead letters         {sum(self.dead_letters.values())} distinct "
                f"({self.dead_letters_written} written): {reasons}",
                f"restarts             {self.restarts} (kill -9), crashes {len(self.crashes)}",
                f"recovery (s)         {recovery}"
                + (f" (max {max(self.recovery):.1f})" if self.recovery else ""),
                f"elapsed              {self.seconds:.0f} s",
            ]
        )


def read_topic(bootstrap: str, topic: str) -> list[tuple[int, dict]]:
    from tests.kafka_topics import read_records

    return [(m.timestamp, orjson.loads(m.value)) for m in read_records(bootstrap, topic, 120)]


def lag(bootstrap: str, topics: Topics) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=topics.group, enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(topics.metrics, p)
                      for p in consumer.partitions_for_topic(topics.metrics)]  # fmt: skip
        end = consumer.end_offsets(partitions)
        return sum(end[tp] - (consumer.committed(tp) or 0) for tp in partitions)
    finally:
        consumer.close()


def first_scored_at(log: Path) -> float:
    """When the run that wrote ``log`` scored its first point (its log line's time); inf if
    it never did. (Not the scores topic's record times: a run killed right after its first
    point may never have sent it.)"""
    for line in log.read_text().splitlines():
        if "first point scored" in line:
            stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()  # logging writes local time
    return math.inf


def freeze(broker, seconds: float) -> None:
    pid = broker._process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def kill_broker(broker) -> None:
    os.kill(broker._process.pid, signal.SIGKILL)
    broker._process._popen.wait(timeout=30)
    broker.start()


def run(broker, alertmanager_url: str, receiver, work: Path, settings: Settings) -> Result:
    """One chaos run on ``broker`` (a :class:`KafkaBroker`), with Alertmanager at
    ``alertmanager_url`` notifying ``receiver``."""
    from stream.runtime.kafka_io import TopicAdmin

    started = time.monotonic()
    rng = random.Random(settings.seed)
    bootstrap = broker.bootstrap_servers
    topics = Topics.fresh()
    admin = TopicAdmin(bootstrap)
    try:
        admin.create_topic(topics.metrics, settings.partitions, TOPIC_CONFIG)
    finally:
        admin.close()
    sink = ["--alertmanager-url", alertmanager_url]

    membership = ["--group-instance-id", "chaos-main"] if settings.static else []
    main = Lookout(work, "main", bootstrap, topics, *sink, *membership)
    extra = [Lookout(work, f"extra{i}", bootstrap, topics, *sink) for i in (1, 2)]
    processes = [main]
    supervisor = Supervisor(processes)
    result = Result()
    try:
        main.start().wait_ready()
        supervisor.start()
        schedule = bad_schedule(rng, settings.bad, settings.steps)
        producer = PointProducer(
            bootstrap, topics.metrics, settings.series, settings.steps, settings.tick, schedule
        )
        producer.start()

        def at(step: int) -> None:  # wait until the producer is that far
            while producer.sent < step and producer.is_alive():
                time.sleep(0.05)

        kills = []

        def kill() -> None:
            main.wait_recovered()  # from the kill before: recovery is measured per kill
            killed_at = main.kill()
            main.start()
            kills.append((killed_at, main.err))
            result.restarts += 1

        # Kills before the first incident, one while it fires and one right after it resolved;
        # then the events, each some steps after the previous one is over; then the other kills.
        special = min(settings.kills, 2)
        before = (settings.kills - special) // 2
        after = [(rng.randrange(20, 60), "kill") for _ in range(settings.kills - special - before)]
        for step in sorted(rng.randrange(55, 95) for _ in range(before)):
            at(step)
            kill()
        first = INCIDENTS[0].start
        for step, pause in [(first + 1, 2.0), (first + 2, 0.3)][:special]:
            at(step)  # the incident's first point sent (the producer pauses), or its next one
            time.sleep(pause)
            print(f"chaos: kill at step {producer.sent} (incident)", file=sys.stderr)
            kill()
        for delay, event in [*EVENTS, *after]:
            at(producer.sent + delay if event != "freeze" else delay)
            print(f"chaos: {event} at step {producer.sent}", file=sys.stderr)
            if event == "kill":
                kill()
            elif event == "freeze":
                freeze(broker, settings.freeze)
            elif event == "broker kill":
                kill_broker(broker)
            elif event == "scale out":
                for process in extra:
                    processes.append(process.start())
            elif event == "scale in":
                for process in extra:
                    process.wait_ready()
                    process.stop()
                    processes.remove(process)
        steps = producer.finish()
        result.produced = steps * settings.series
        result.bad_sent = producer.bad_sent
        result.bad_refused_by_broker = producer.bad_refused
        deadline = time.monotonic() + 300
        while lag(bootstrap, topics) > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not consumed in time:\n{main.logs()}")
            time.sleep(0.5)
        time.sleep(4)  # Alertmanager's group interval: late notifications arrive
        supervisor.done.set()
        main.stop()
    finally:
        supervisor.done.set()
        for process in [main, *extra]:
            process.close()
    result.crashes = supervisor.crashes
    expected_scores, expected_alerts = reference(work, settings.series, steps)

    scores = read_topic(bootstrap, topics.scores)
    counted = collections.Counter()
    first_score: dict = {}
    for _, doc in scores:
        key = (doc["series"], float(doc["timestamp"]))
        counted[key] += 1
        first_score.setdefault(key, doc["anomaly_score"])
    good = set(expected_scores)
    result.scored = len(good & set(counted))
    result.lost = len(good - set(counted))
    result.scored_twice = sum(n - 1 for key, n in counted.items() if key in good)
    result.differing = sum(
        1 for key in good & set(counted) if first_score[key] != expected_scores[key]
    )
    result.recovery = [first_scored_at(log) - killed for killed, log in kills]
    letters = [d for _, d in read_topic(bootstrap, topics.dead)]
    result.dead_letters_written = len(letters)
    distinct = {
        (d["source"]["partition"], d["source"]["offset"], d.get("index")): d for d in letters
    }
    result.dead_letters = collections.Counter(d["reason"] for d in distinct.values())
    events = [doc for _, doc in read_topic(bootstrap, topics.alerts)]
    events = [e for e in events if e["series"] in names(settings.series)]  # not junk series
    result.alert_event_ids = len({e["event_id"] for e in events})
    result.expected_alert_events = len(expected_alerts)
    result.incidents = len({a for a, status in expected_alerts if status == "firing"})
    notifications: dict = collections.defaultdict(collections.Counter)
    for note in receiver.notifications:
        for alert in note["alerts"]:
            notifications[(alert["labels"]["series"], alert["startsAt"])][alert["status"]] += 1
    result.notifications = dict(notifications)
    starts = {pd.Timestamp(START + 60 * steps.start, unit="s", tz="UTC") for steps in INCIDENTS}
    planned = {
        (a["series"], a["start"])
        for a in map(orjson.loads, (work / "reference" / "alerts.jsonl").read_bytes().splitlines())
        if pd.Timestamp(a["start"]) in starts
    }
    good_series = set(names(settings.series))
    result.good_notified = sum(1 for series, _ in notifications if series in good_series)
    result.planned = len(planned)
    result.planned_notified = len(planned & set(notifications))
    result.seconds = time.monotonic() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Settings()
    for field in dataclasses.fields(Settings):
        parser.add_argument(f"--{field.name}", type=type(getattr(defaults, field.name)),
                            default=getattr(defaults, field.name))  # fmt: skip
    args = parser.parse_args()
    settings = Settings(**vars(args))

    from scripts.lookout_services.alertmanager_server import Alertmanager
    from scripts.lookout_services.kafka_broker import KafkaBroker

    with tempfile.TemporaryDirectory(prefix="lookout-chaos-") as folder:
        work = Path(settings.work or folder)
        work.mkdir(parents=True, exist_ok=True)
        receiver = AlertWebhookReceiver().start()
        broker = KafkaBroker(work / "kafka", partitions=3).start()
        manager = Alertmanager(work / "alertmanager", receiver.url).start()
        try:
            result = run(broker, manager.url, receiver, work, settings)
        finally:
            manager.stop()
            broker.stop()
            receiver.stop()
    print(f"chaos: {settings}")
    print(result.format())
    for name, code, logs in result.crashes:
        print(f"crash of {name} (exit {code}):\n{logs}")
    ok = (
        result.lost == 0
        and not result.crashes
        and result.paged_once
        and (max(result.recovery, default=0) < 3.0 or not settings.static)
    )
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

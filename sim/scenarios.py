"""Seeded synthetic incidents with known windows, to measure detectors where truth is known.

Three scenarios, each a function ``scenario(seed=0, ...) -> list[LabeledSeries]``:

``ddos``
    10,000 API requests, one per second, 2 % malicious, arriving in a few attack bursts.
``sre``
    Four weeks of a seasonal service metric at 5-minute resolution, one series per incident
    kind (spike, level shift, drift, variance burst, outage, data gap), three incidents each.
``daily_job``
    The same baseline with a batch job spiking every night at 03:10, which is *not* an incident,
    and one real incident elsewhere.
``quiet``
    Four weeks of incident-free noise of the shapes SRE metrics take (sparse error counts,
    skewed and heavy-tailed latencies, integer replica counts...): every alert is a false page.

All randomness comes from one ``numpy.random.Generator`` seeded with ``seed``, so the same seed
always gives identical frames and windows. No incident (nor its window) starts in the first
``WARMUP_FRACTION`` of a series: detectors need a warm-up, as in NAB's 15 % probation.

:func:`generate` looks a scenario up by name in :data:`SCENARIOS`; :func:`write_nab_folder`
writes series in the NAB corpus layout so the NAB tooling and loaders can read them.

"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.labeled import LabeledSeries, Window

__all__ = [
    "WARMUP_FRACTION",
    "SRE_KINDS",
    "JOB_START",
    "JOB_DURATION",
    "ddos_requests",
    "ddos",
    "sre",
    "daily_job",
    "job_mask",
    "QUIET_SHAPES",
    "quiet",
    "SCENARIOS",
    "generate",
    "write_nab_folder",
]

WARMUP_FRACTION = 0.2
START = pd.Timestamp("2024-01-01")  # a Monday, so weekdays line up with the weekly pattern
SRE_STEP = pd.Timedelta(minutes=5)
SRE_LEVEL = 200.0  # requests per second at the daily mean of a weekday
SRE_MARGIN = 6  # points of padding each side of an SRE window (30 minutes)
DDOS_MARGIN = 10  # points of padding each side of an attack window (10 seconds)
SRE_KINDS = ("spike", "level_shift", "drift", "variance_burst", "outage", "data_gap")
JOB_START = pd.Timedelta(hours=3, minutes=10)
JOB_DURATION = pd.Timedelta(minutes=15)

CSV_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NAB_WINDOW_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


# --------------------------------------------------------------------------------------------
# Placement


def _place(
    rng: np.random.Generator, n_points: int, lengths: Sequence[int], margin: int
) -> list[int]:
    """Start index of each incident, one per equal slot after the warm-up.

    One slot per incident keeps incidents spread over the series and guarantees that windows
    (incident plus ``margin`` each side) neither overlap nor reach into the warm-up or the end.
    """
    low = math.ceil(WARMUP_FRACTION * n_points) + margin
    high = math.floor(0.95 * n_points) - margin
    slot = (high - low) // len(lengths)
    starts = []
    for k, length in enumerate(lengths):
        slot_low = low + k * slot
        slot_high = slot_low + slot - int(length) - 2 * margin
        if slot_high <= slot_low:
            raise ValueError(f"incidents of length {length} do not fit in {n_points} points")
        starts.append(int(rng.integers(slot_low, slot_high)))
    return starts


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` index of each maximal run of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


# --------------------------------------------------------------------------------------------
# DDoS


def ddos_requests(
    seed: int = 0,
    n_requests: int = 10_000,
    malicious_fraction: float = 0.02,
    n_bursts: int = 4,
) -> pd.DataFrame:
    """The raw DDoS table: one row per second with its ``malicious`` ground truth.

    Normal rows draw ``request_rate ~ N(50, 10)`` and ``payload_size ~ N(1024, 200)``; malicious
    rows draw ``request_rate ~ N(300, 50)`` and ``payload_size ~ N(5000, 1000)`` (both clipped at
    zero). Exactly ``round(n_requests * malicious_fraction)`` rows are malicious, split into
    ``n_bursts`` contiguous attack bursts of random length (each at least half the mean length),
    because real floods arrive in waves rather than as isolated bad requests.

    Examples
    --------
    >>> table = ddos_requests(seed=1)
    >>> len(table), int(table["malicious"].sum())
    (10000, 200)
    >>> list(table.columns)
    ['timestamp', 'request_rate', 'payload_size', 'malicious']

    """
    rng = np.random.default_rng(seed)
    n_malicious = round(n_requests * malicious_fraction)
    min_burst = n_malicious // (2 * n_bursts)
    spare = n_malicious - min_burst * n_bursts
    sizes = min_burst + rng.multinomial(spare, [1 / n_bursts] * n_bursts)
    malicious = np.zeros(n_requests, dtype=bool)
    for start, size in zip(_place(rng, n_requests, sizes, DDOS_MARGIN), sizes, strict=True):
        malicious[start : start + size] = True

    request_rate = np.where(
        malicious, rng.normal(300, 50, n_requests), rng.normal(50, 10, n_requests)
    )
    payload_size = np.where(
        malicious, rng.normal(5000, 1000, n_requests), rng.normal(1024, 200, n_requests)
    )
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(START, periods=n_requests, freq="s"),
            "request_rate": np.maximum(request_rate, 0.0),
            "payload_size": np.maximum(payload_size, 0.0),
            "malicious": malicious,
        }
    )


def ddos(
    seed: int = 0,
    n_requests: int = 10_000,
    malicious_fraction: float = 0.02,
    n_bursts: int = 4,
) -> list[LabeledSeries]:
    """A DDoS seen through two metrics, ``request_rate`` and ``payload_size``.

    Built from :func:`ddos_requests`. Both series share the same windows: one per attack burst,
    padded by ``DDOS_MARGIN`` seconds each side. As in NAB, the padding credits a detector that
    fires a moment early or is still firing just after the flood stops; it is kept small so the
    windows stay close to the 2 % of points that are actually malicious.

    Examples
    --------
    >>> rate, payload = ddos(seed=1)
    >>> rate.name, payload.name, len(rate.windows)
    ('request_rate', 'payload_size', 4)
    >>> rate.windows == payload.windows
    True

    """
    table = ddos_requests(seed, n_requests, malicious_fraction, n_bursts)
    timestamps = table["timestamp"]
    last = len(table) - 1
    windows: list[Window] = [
        (timestamps[max(first - DDOS_MARGIN, 0)], timestamps[min(end + DDOS_MARGIN, last)])
        for first, end in _runs(table["malicious"].to_numpy())
    ]
    return [
        LabeledSeries(
            name=column,
            frame=pd.DataFrame({"timestamp": timestamps, "value": table[column]}),
            windows=list(windows),
            kind="ddos",
        )
        for column in ("request_rate", "payload_size")
    ]


# --------------------------------------------------------------------------------------------
# SRE baseline and incidents


def _baseline(rng: np.random.Generator, days: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Requests/s with a daily cycle, quieter weekends and autocorrelated plus white noise.

    Returns the timestamps and the noise-free expected value; the noisy value is
    ``expected * (1 + noise)``, with the noise added by the caller through :func:`_noisy`.
    """
    timestamps = pd.date_range(START, periods=days * 24 * 12, freq=SRE_STEP)
    hours = timestamps.hour.to_numpy() + timestamps.minute.to_numpy() / 60
    # Peak mid-afternoon, trough at 03:00, when nightly batch jobs usually run.
    daily = 1 + 0.4 * np.cos(2 * np.pi * (hours - 15) / 24)
    weekly = np.where(timestamps.day_of_week.to_numpy() >= 5, 0.75, 1.0)
    return timestamps, SRE_LEVEL * daily * weekly


def _noisy(rng: np.random.Generator, expected: np.ndarray) -> np.ndarray:
    # AR(1) wander makes neighbouring points agree, as real traffic does; white noise on top.
    phi = 0.95
    shocks = rng.normal(0, 0.02 * math.sqrt(1 - phi**2), len(expected))
    wander = np.empty_like(shocks)
    level = 0.0
    for i, shock in enumerate(shocks):
        level = phi * level + shock
        wander[i] = level
    return expected * (1 + wander + rng.normal(0, 0.03, len(expected)))


@dataclass(frozen=True)
class _IncidentKind:
    min_length: int  # points
    max_length: int
    inject: Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray] | None
    """Values of the incident, given the rng, the noisy values and the expected values it
    replaces; ``None`` for a data gap, whose points are removed instead."""


def _spike(rng, values, expected):
    return expected * rng.uniform(2.5, 4.0)


def _level_shift(rng, values, expected):
    factor = rng.uniform(1.4, 1.7) if rng.random() < 0.5 else rng.uniform(0.4, 0.6)
    return values * factor


def _drift(rng, values, expected):
    # A leak grows steadily until the restart at the end of the incident drops it at once.
    return values + np.linspace(0, rng.uniform(0.8, 1.2) * SRE_LEVEL, len(values))


def _variance_burst(rng, values, expected):
    return expected + rng.normal(0, rng.uniform(0.15, 0.25), len(values)) * expected


def _outage(rng, values, expected):
    return np.zeros_like(values)


_INCIDENT_KINDS = {
    "spike": _IncidentKind(1, 3, _spike),
    "level_shift": _IncidentKind(36, 96, _level_shift),  # 3 to 8 hours
    "drift": _IncidentKind(144, 432, _drift),  # 12 to 36 hours
    "variance_burst": _IncidentKind(12, 36, _variance_burst),  # 1 to 3 hours
    "outage": _IncidentKind(6, 24, _outage),  # 30 minutes to 2 hours
    "data_gap": _IncidentKind(24, 72, None),  # 2 to 6 hours
}


def _with_incidents(
    rng: np.random.Generator, kind: str, days: int, n_incidents: int
) -> LabeledSeries:
    timestamps, expected = _baseline(rng, days)
    values = _noisy(rng, expected)
    spec = _INCIDENT_KINDS[kind]
    lengths = rng.integers(spec.min_length, spec.max_length + 1, size=n_incidents)
    keep = np.ones(len(values), dtype=bool)
    windows: list[Window] = []
    for start, length in zip(_place(rng, len(values), lengths, SRE_MARGIN), lengths, strict=True):
        stop = start + int(length)
        if spec.inject is None:
            keep[start:stop] = False  # missing telemetry: not a change in the metric itself
        else:
            values[start:stop] = spec.inject(rng, values[start:stop], expected[start:stop])
            windows.append((timestamps[start - SRE_MARGIN], timestamps[stop - 1 + SRE_MARGIN]))
    frame = pd.DataFrame({"timestamp": timestamps[keep], "value": values[keep]})
    return LabeledSeries(name=kind, frame=frame, windows=windows, kind=kind)


def sre(seed: int = 0, days: int = 28, n_incidents: int = 3) -> list[LabeledSeries]:
    """One seasonal service metric per incident kind in :data:`SRE_KINDS`.

    The baseline is requests/s every 5 minutes: a daily cycle (peak 15:00, trough 03:00),
    weekends 25 % quieter, autocorrelated wander and white noise. Each series gets
    ``n_incidents`` incidents of its kind, spread over the series after the warm-up:

    * ``spike``: 1-3 points at 2.5-4x the expected value;
    * ``level_shift``: 3-8 hours multiplied by 1.4-1.7 or 0.4-0.6 (a bad deploy, then rollback);
    * ``drift``: a memory-leak footprint, a linear rise over 12-36 hours that vanishes at once
      when the process restarts;
    * ``variance_burst``: 1-3 hours with noise 5-8x wider around the expected value;
    * ``outage``: 30 minutes to 2 hours flat at zero;
    * ``data_gap``: 2-6 hours with no points at all.

    Windows cover the incident plus ``SRE_MARGIN`` points (30 minutes) each side.

    A data gap is *not* labelled an incident: the metric itself did not misbehave, and a
    detector that pages on the first point after a gap (stale lags, a "jump" across hours) is
    paging on an artefact. Missing telemetry is what Prometheus' ``absent()`` and staleness
    alerts are for. The ``data_gap`` series is there to show that Lookout stays quiet across gaps.

    Examples
    --------
    >>> series = sre(seed=3, days=14)
    >>> [s.kind for s in series] == list(SRE_KINDS)
    True
    >>> [len(s.windows) for s in series]
    [3, 3, 3, 3, 3, 0]

    """
    rng = np.random.default_rng(seed)
    return [_with_incidents(rng, kind, days, n_incidents) for kind in SRE_KINDS]


# --------------------------------------------------------------------------------------------
# Nightly batch job


def job_mask(frame: pd.DataFrame) -> np.ndarray:
    """True for points during the nightly job, ``JOB_START`` to ``JOB_START + JOB_DURATION``.

    Examples
    --------
    >>> ts = pd.date_range("2024-01-01 03:00", periods=6, freq="5min")
    >>> job_mask(pd.DataFrame({"timestamp": ts})).astype(int).tolist()
    [0, 0, 1, 1, 1, 0]

    """
    timestamps = pd.to_datetime(frame["timestamp"])
    since_midnight = timestamps - timestamps.dt.normalize()
    in_job = (since_midnight >= JOB_START) & (since_midnight < JOB_START + JOB_DURATION)
    return in_job.to_numpy()


def daily_job(seed: int = 0, days: int = 28) -> list[LabeledSeries]:
    """The SRE baseline plus a nightly batch job that must not page anyone.

    Every day from 03:10 for 15 minutes (see :func:`job_mask`) the metric rises by 1.0-1.4 times
    the mean level (one amplitude per night): at the 03:00 trough that is roughly a tripling, as
    when a backup or an ETL job runs. The job carries no window. One real incident, a 2-3 point
    spike at 2.5-4x the expected value, happens one afternoon after the warm-up, so
    recall stays measurable next to the false pages during the job.

    Examples
    --------
    >>> (series,) = daily_job(seed=2, days=14)
    >>> len(series.windows)
    1
    >>> bool((series.labels() & job_mask(series.frame)).any())
    False

    """
    rng = np.random.default_rng(seed)
    timestamps, expected = _baseline(rng, days)
    values = _noisy(rng, expected)

    in_job = job_mask(pd.DataFrame({"timestamp": timestamps}))
    amplitude = rng.uniform(1.0, 1.4, days) * SRE_LEVEL
    day_index = ((timestamps - START) // pd.Timedelta(days=1)).to_numpy()
    values[in_job] += amplitude[day_index[in_job]]

    points_per_day = 24 * 12
    day = int(rng.integers(math.ceil(WARMUP_FRACTION * days) + 1, math.floor(0.95 * days)))
    start = day * points_per_day + int(rng.integers(13 * 12, 17 * 12))  # 13:00 to 17:00
    stop = start + int(rng.integers(2, 4))
    values[start:stop] = _spike(rng, values[start:stop], expected[start:stop])
    window = (timestamps[start - SRE_MARGIN], timestamps[stop - 1 + SRE_MARGIN])
    frame = pd.DataFrame({"timestamp": timestamps, "value": values})
    return [LabeledSeries(name="daily_job", frame=frame, windows=[window], kind="daily_job")]


# --------------------------------------------------------------------------------------------
# Incident-free noise


def _replica_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    # An autoscaler settles on 2-6 replicas and reconsiders every few hours.
    changes = np.flatnonzero(rng.random(n) < 1 / 72)
    counts = rng.integers(2, 7, len(changes) + 1)
    return counts[np.searchsorted(changes, np.arange(n), side="right")].astype(float)


#: The noise shapes of :func:`quiet`: name -> values given the generator, the 5-minute
#: timestamps and the SRE baseline's expected requests/s at them.
QUIET_SHAPES: dict[
    str, Callable[[np.random.Generator, pd.DatetimeIndex, np.ndarray], np.ndarray]
] = {
    "sparse_errors": lambda rng, t, expected: rng.poisson(0.2, len(t)).astype(float),
    "error_counts": lambda rng, t, expected: rng.poisson(2.0, len(t)).astype(float),
    "request_counts": lambda rng, t, expected: rng.poisson(expected).astype(float),
    "latency_lognormal": lambda rng, t, expected: rng.lognormal(math.log(0.2), 0.5, len(t)),
    "latency_heavy_tail": lambda rng, t, expected: 0.2 + 0.05 * rng.pareto(2.5, len(t)),
    "replicas": lambda rng, t, expected: _replica_counts(rng, len(t)),
    "cpu_percent": lambda rng, t, expected: np.clip(
        100 * expected / (3 * SRE_LEVEL) + rng.normal(0, 3, len(t)), 0, 100
    ),
}


def quiet(seed: int = 0, days: int = 28) -> list[LabeledSeries]:
    """One incident-free series per shape in :data:`QUIET_SHAPES`, at 5-minute steps.

    Nothing happens in them: Poisson error counts (0.2 and 2 per point), Poisson request counts
    following the SRE baseline's daily and weekly cycle, lognormal and Pareto-tailed latencies,
    an autoscaler's replica count and a CPU percentage with Gaussian noise. The skewed, heavy
    tailed and discrete shapes are what real metrics look like where the Gaussian noise of
    :func:`sre` does not; every alert on them is a false page.

    Examples
    --------
    >>> series = quiet(seed=1, days=7)
    >>> [s.name for s in series] == list(QUIET_SHAPES)
    True
    >>> {len(s.windows) for s in series}, len(series[0].frame)
    ({0}, 2016)

    """
    rng = np.random.default_rng(seed)
    timestamps, expected = _baseline(rng, days)
    return [
        LabeledSeries(
            name=name,
            frame=pd.DataFrame(
                {"timestamp": timestamps, "value": shape(rng, timestamps, expected)}
            ),
            windows=[],
            kind="quiet",
        )
        for name, shape in QUIET_SHAPES.items()
    ]


# --------------------------------------------------------------------------------------------
# Registry and NAB output

SCENARIOS: dict[str, Callable[..., list[LabeledSeries]]] = {
    "ddos": ddos,
    "sre": sre,
    "daily_job": daily_job,
    "quiet": quiet,
}


def generate(name: str, seed: int = 0) -> list[LabeledSeries]:
    """Generate the scenario registered under ``name`` in :data:`SCENARIOS`.

    Examples
    --------
    >>> [s.name for s in generate("ddos", seed=0)]
    ['request_rate', 'payload_size']
    >>> generate("nope")
    Traceback (most recent call last):
    ...
    KeyError: "unknown scenario 'nope'; choose from ['daily_job', 'ddos', 'quiet', 'sre']"

    """
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; choose from {sorted(SCENARIOS)}") from None
    return scenario(seed=seed)


def write_nab_folder(
    series_list: Sequence[LabeledSeries], out_dir: str | Path, category: str
) -> list[Path]:
    """Write series as a NAB corpus category and merge their windows into NAB's label file.

    Creates ``out_dir/data/<category>/<name>.csv`` (columns ``timestamp,value``, timestamps as
    ``%Y-%m-%d %H:%M:%S``) and updates ``out_dir/labels/combined_windows.json``, keyed
    ``"<category>/<name>.csv"`` with windows as ``"%Y-%m-%d %H:%M:%S.%f"`` string pairs. Keys of
    other files already in the label file are kept, so categories can be written one by one.

    Returns
    -------
    list of pathlib.Path
        The CSV files written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     paths = write_nab_folder(generate("ddos"), out, "synthetic")
    ...     labels = json.loads((Path(out) / "labels" / "combined_windows.json").read_text())
    ...     names = [p.name for p in paths]
    >>> names
    ['request_rate.csv', 'payload_size.csv']
    >>> sorted(labels)
    ['synthetic/payload_size.csv', 'synthetic/request_rate.csv']

    """
    out = Path(out_dir)
    data_dir = out / "data" / category
    data_dir.mkdir(parents=True, exist_ok=True)
    labels_path = out / "labels" / "combined_windows.json"
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    labels = json.loads(labels_path.read_text()) if labels_path.exists() else {}

    paths = []
    for series in series_list:
        path = data_dir / f"{series.name}.csv"
        timestamps = pd.to_datetime(series.frame["timestamp"])
        pd.DataFrame(
            {"timestamp": timestamps.dt.strftime(CSV_TIME_FORMAT), "value": series.frame["value"]}
        ).to_csv(path, index=False)
        labels[f"{category}/{series.name}.csv"] = [
            [pd.Timestamp(bound).strftime(NAB_WINDOW_FORMAT) for bound in window]
            for window in series.windows
        ]
        paths.append(path)
    labels_path.write_text(json.dumps(labels, indent=4, sort_keys=True) + "\n")
    return paths

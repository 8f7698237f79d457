"""A realistic fleet of SRE metric series, seeded, of any size, quiet or with labelled incidents.

Each series is one *process* (:class:`SeriesSpec`: a shape, its parameters, a local time zone,
a season, a schedule of incidents and scrape gaps) sampled every ``step`` seconds (15 s, 1 min,
5 min or 1 h). Everything about the process is drawn from the series' seed alone, **in time**:
its level, cycles, incidents (start, end, kind) and scrape gaps do not depend on ``step``; only
the sample noise and the randomly missing points do. So the 15-second and the hourly version of
one process have their incidents at the same times, and a detector that pages differently on
them does so because of how it treats time, not because the data differ.

Every series comes twice: *quiet* (:func:`fleet` with ``incidents=False``: no incident, every
page is a false one) and *with incidents* (the same process, the same noise, with the incidents
of its schedule injected and labelled).

Shapes (:data:`SHAPES`; ``sigma`` is the per-sample noise scale the incident sizes refer to)
--------------------------------------------------------------------------------------------
``cpu``
    Gauge in percent: level 10-40, cycle amplitude 10-30, Gaussian noise sd 1-4, clipped to
    0-100. Incidents: level shift, spike, stuck.
``memory``
    Gauge in bytes at an offset of 4e9-12e9 (about 8e9), a cycle of 0.5-2 % of it, a trend of
    -1..+1 % a week, noise sd 2e6-2e7. Incidents: slow leak, level shift, stuck.
``request_rate``
    A monotonically increasing counter reported as a rate (``rate(x[step])``): Poisson counts
    per interval of a mean rate of 5-500/s that follows the cycle (30-100 %), times 3 %
    lognormal wander, divided by ``step``. Incidents: outage to zero, level shift, spike, stuck.
``latency``
    Lognormal latency in seconds: median 0.02-0.3 s (30 % higher at the cycle's peak), log-sd
    0.2-0.5. Incidents: latency degradation, spike.
``queue``
    Pareto-tailed queue length (Lomax with shape 1.5-3, scale 1-20, rounded): mostly small,
    sometimes large. Incidents: queue backlog.
``errors``
    Sparse error counts per interval (``increase(errors[step])``): Poisson of a rate of
    1e-4-5e-3 per second (50-150 % with the cycle): mostly zeros at 15 s, a few per hour.
    Incidents: error burst.
``replicas``
    Discrete levels: 2-10 replicas plus 0-4 more at the cycle's peak (autoscaling), rounded.
    Incidents: level shift (replicas lost), outage (scaled to zero).
``constant``
    A constant gauge (1, 4, 16, 100 or 1024: a configured limit, a core count). Incidents:
    level shift (the value changes).
``boot_time``
    A boot-time gauge (``node_boot_time_seconds``) at about 1.7e9, constant, integral.
    Incidents: level shift (an unplanned reboot: the value jumps to the reboot time and stays).
``disk``
    Bytes used on a disk of 1e11-1e12: 30-60 % full, growing 0-0.5 % of capacity a week, a
    cycle of 0.2 % of capacity, noise sd 1e-4 of capacity. Incidents: disk filling up, level
    shift (data moved in or cleaned up).

Seasons: each series has ``season`` ``"none"``, ``"daily"`` (a smooth cycle, lowest at 03:00 and
highest at 15:00 local time) or ``"weekly"`` (the same, with the cycle's amplitude times
0.3-0.9 on Saturdays and Sundays), in the series' own time zone (UTC-8 to UTC+9, including
UTC+5:30). ``constant`` and ``boot_time`` have none.

Incidents (:data:`KINDS`; durations in time, drawn log-uniformly)
------------------------------------------------------------------
``level_shift``
    2 h to 2 days, the value moved by 6-12 sigma up or down (``replicas``: a third to two
    thirds of them lost; ``constant``: times 1.5-4; ``boot_time``: the reboot time, for good).
``spike``
    0-2 min (so one sample at any interval), +8-20 sigma (``latency``: times 3-10).
``outage``
    10 min to 2 h at exactly zero (a rate whose service is down, replicas scaled to zero).
``latency_degradation``
    15 min to 4 h, latencies times 2-5.
``error_burst``
    5 min to 1 h of 0.2-2 extra errors per second.
``memory_leak``
    6 h to 2 days of linear growth to 15-40 sigma, gone at the restart that ends it.
``stuck``
    1 h to 12 h (at least 3 samples) of the exact last value before it (a flat-lined exporter).
``queue_backlog``
    20 min to 3 h: the queue grows linearly to 50-200 times its scale, then drains over the last
    30 % of the incident.
``disk_fill``
    1 h to 12 h: usage grows linearly by 5-25 % of the capacity (capped at full), freed at the
    end.

Incidents start after the first ``WARM_UP`` (2 days: a new series is expected to be useful
after days, not weeks), at least ``INCIDENT_SPACING`` (1 day) apart, about ``INCIDENTS_PER_WEEK``
per series-week and at least one. A duration shorter than the kind's minimum number of sampling
intervals (1; ``stuck``: 3) is lengthened to it, so that every incident shows in the data: only
there do the 15 s and the 1 h version differ in time (an incident whose samples all went
missing is not labelled). The label window of an incident is ``[start, end +
2 steps]`` (a detector one or two samples late still scores).

Every series is sampled at its own instants (a gauge's value, a rate's value at the scrape),
not averaged over the interval: an hourly series sees the same incidents as a 15-second one.

Missing data: each point is missing with a probability of 0-1 % (per series), and about one
scrape gap a week of 5 min to 2 h has no point at all (never across an incident). A gap is not
an incident and is not labelled.

Examples
--------
>>> series = fleet(n_series=10, weeks=1, seed=3)
>>> [s.spec.shape for s in series][:3], sorted({s.spec.step for s in series})
(['cpu', 'memory', 'request_rate'], [15.0, 60.0, 300.0, 3600.0])
>>> all(s.incidents for s in series), fleet(10, 1, seed=3, incidents=False)[0].windows
(True, [])
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from sim.labeled import LabeledSeries, Window

__all__ = [
    "INTERVALS",
    "KINDS",
    "SHAPES",
    "START",
    "FleetSeries",
    "Incident",
    "SeriesSpec",
    "fleet",
    "render",
    "series_spec",
]

#: Sampling intervals in seconds: Prometheus scrapes (15 s, 1 min), slower exporters, CloudWatch.
INTERVALS = (15.0, 60.0, 300.0, 3600.0)
#: A Monday, 00:00 UTC: the fleet's first timestamp.
START = pd.Timestamp("2026-01-05 00:00:00")
WARM_UP = 2 * 86400.0
INCIDENT_SPACING = 86400.0
INCIDENTS_PER_WEEK = 1.0
LABEL_STEPS = 2  # label windows end this many steps after the incident
TZ_OFFSETS_HOURS = (-8.0, -5.0, 0.0, 1.0, 2.0, 5.5, 8.0, 9.0)
SEASONS = ("none", "daily", "weekly")

_MINUTE, _HOUR, _DAY = 60.0, 3600.0, 86400.0
_EPOCH_START = (START - pd.Timestamp(0)).total_seconds()


@dataclasses.dataclass(frozen=True)
class Incident:
    """Something going wrong on one series from ``start`` to ``end`` (both included)."""

    start: pd.Timestamp
    end: pd.Timestamp
    kind: str


@dataclasses.dataclass(frozen=True)
class SeriesSpec:
    """One process of the fleet and how it is sampled; :func:`render` makes its data.

    ``params`` holds the shape's parameters (drawn from ``seed``); ``incidents`` and ``gaps``
    are ``(start, end, kind)`` and ``(start, end)`` in seconds since :data:`START`.
    """

    name: str
    shape: str
    step: float
    seed: int
    weeks: float
    tz_offset_hours: float
    season: str
    weekend_factor: float
    missing_rate: float
    params: dict
    incidents: tuple[tuple[float, float, str], ...]
    gaps: tuple[tuple[float, float], ...]

    def at_step(self, step: float) -> SeriesSpec:
        """The same process sampled every ``step`` seconds."""
        return dataclasses.replace(self, step=float(step))


@dataclasses.dataclass(frozen=True, eq=False)
class FleetSeries:
    """A rendered series: its spec, ``frame`` (``timestamp``, ``value``) and its incidents."""

    spec: SeriesSpec
    frame: pd.DataFrame
    incidents: tuple[Incident, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def windows(self) -> list[Window]:
        """Label windows: each incident plus ``LABEL_STEPS`` sampling intervals."""
        late = pd.Timedelta(seconds=LABEL_STEPS * self.spec.step)
        return [(incident.start, incident.end + late) for incident in self.incidents]

    def labeled(self) -> LabeledSeries:
        kinds = sorted({incident.kind for incident in self.incidents})
        return LabeledSeries(self.name, self.frame, self.windows, ",".join(kinds))


# --- seasons ------------------------------------------------------------------------------------


def season_profile(
    seconds: np.ndarray, tz_offset_hours: float, season: str, weekend_factor: float
) -> np.ndarray:
    """The cycle in [0, 1] at ``seconds`` since :data:`START` (a Monday 00:00 UTC): lowest at
    03:00 and highest at 15:00 local time; ``weekly`` scales it by ``weekend_factor`` on local
    Saturdays and Sundays; ``none`` is 0.

    >>> hours = np.array([3.0, 15.0, 5 * 24 + 15.0]) * 3600  # Mon 03:00, Mon 15:00, Sat 15:00
    >>> season_profile(hours, 0.0, "weekly", 0.5).round(3).tolist()
    [0.0, 1.0, 0.5]
    >>> season_profile(hours, -8.0, "daily", 0.5).round(3).tolist()  # 8 hours earlier locally
    [0.75, 0.25, 0.25]
    """
    if season == "none":
        return np.zeros(len(seconds))
    local = seconds + tz_offset_hours * _HOUR
    hour = (local % _DAY) / _HOUR
    cycle = 0.5 - 0.5 * np.cos(2 * np.pi * (hour - 3.0) / 24.0)
    if season == "weekly":
        weekend = (np.floor(local / _DAY) % 7) >= 5
        cycle = np.where(weekend, cycle * weekend_factor, cycle)
    return cycle


# --- shapes -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Shape:
    kinds: tuple[str, ...]
    draw: Callable[[np.random.Generator], dict]  # the process' parameters
    # (seconds, cycle, params, step, rng) -> (values, sigma): sampled values and noise scale
    sample: Callable[..., tuple[np.ndarray, float]]
    seasonal: bool = True
    upper: float = math.inf  # the values are clipped to [0, upper] after the incidents


def _cpu(t, cycle, p, step, rng):
    values = p["level"] + p["amplitude"] * cycle + rng.normal(0, p["noise"], len(t))
    return np.clip(values, 0, 100), p["noise"]


def _memory(t, cycle, p, step, rng):
    trend = p["offset"] * p["trend"] * t / (7 * _DAY)
    values = p["offset"] * (1 + p["amplitude"] * cycle) + trend + rng.normal(0, p["noise"], len(t))
    return values, p["noise"]


def _request_rate(t, cycle, p, step, rng):
    rate = p["rate"] * (1 - p["amplitude"] * (1 - cycle)) * rng.lognormal(0, 0.03, len(t))
    counts = rng.poisson(rate * step)
    sigma = math.sqrt(p["rate"] / step) + 0.03 * p["rate"]
    return counts / step, sigma


def _latency(t, cycle, p, step, rng):
    median = p["median"] * (1 + 0.3 * cycle)
    values = median * rng.lognormal(0, p["log_sd"], len(t))
    return values, p["median"] * p["log_sd"]


def _queue(t, cycle, p, step, rng):
    return np.round(p["scale"] * rng.pareto(p["alpha"], len(t))), p["scale"]


def _errors(t, cycle, p, step, rng):
    rate = p["rate"] * (0.5 + cycle)
    return rng.poisson(rate * step).astype(float), math.sqrt(p["rate"] * step) + 1.0


def _replicas(t, cycle, p, step, rng):
    return np.round(p["base"] + p["extra"] * cycle), 1.0


def _constant(t, cycle, p, step, rng):
    return np.full(len(t), p["value"]), max(1.0, 0.1 * p["value"])


def _boot_time(t, cycle, p, step, rng):
    return np.full(len(t), p["value"]), 1.0


def _disk(t, cycle, p, step, rng):
    capacity = p["capacity"]
    values = capacity * (p["used"] + p["growth"] * t / (7 * _DAY) + 0.002 * cycle)
    noise = 1e-4 * capacity
    return values + rng.normal(0, noise, len(t)), noise


SHAPE_SPECS: dict[str, _Shape] = {
    "cpu": _Shape(
        ("level_shift", "spike", "stuck"),
        lambda r: {
            "level": r.uniform(10, 40),
            "amplitude": r.uniform(10, 30),
            "noise": r.uniform(1, 4),
        },
        _cpu,
        upper=100.0,
    ),
    "memory": _Shape(
        ("memory_leak", "level_shift", "stuck"),
        lambda r: {
            "offset": r.uniform(4e9, 12e9),
            "amplitude": r.uniform(0.005, 0.02),
            "trend": r.uniform(-0.01, 0.01),
            "noise": r.uniform(2e6, 2e7),
        },
        _memory,
    ),
    "request_rate": _Shape(
        ("outage", "level_shift", "spike", "stuck"),
        lambda r: {"rate": r.uniform(5, 500), "amplitude": r.uniform(0.0, 0.7)},
        _request_rate,
    ),
    "latency": _Shape(
        ("latency_degradation", "spike"),
        lambda r: {"median": r.uniform(0.02, 0.3), "log_sd": r.uniform(0.2, 0.5)},
        _latency,
    ),
    "queue": _Shape(
        ("queue_backlog",),
        lambda r: {"alpha": r.uniform(1.5, 3.0), "scale": r.uniform(1, 20)},
        _queue,
    ),
    "errors": _Shape(
        ("error_burst",),
        lambda r: {"rate": math.exp(r.uniform(math.log(1e-4), math.log(5e-3)))},
        _errors,
    ),
    "replicas": _Shape(
        ("level_shift", "outage"),
        lambda r: {"base": float(r.integers(2, 11)), "extra": float(r.integers(0, 5))},
        _replicas,
    ),
    "constant": _Shape(
        ("level_shift",),
        lambda r: {"value": float(r.choice([1, 4, 16, 100, 1024]))},
        _constant,
        seasonal=False,
    ),
    "boot_time": _Shape(
        ("level_shift",),
        lambda r: {"value": float(1.7e9 + r.integers(0, 30_000_000))},
        _boot_time,
        seasonal=False,
    ),
    "disk": _Shape(
        ("disk_fill", "level_shift"),
        lambda r: {
            "capacity": float(r.choice([1e11, 2.5e11, 5e11, 1e12])),
            "used": r.uniform(0.3, 0.6),
            "growth": r.uniform(0.0, 0.005),
        },
        _disk,
    ),
}
SHAPES = tuple(SHAPE_SPECS)

# --- incidents ------------------------------------------------------------------------------------

# kind -> (shortest, longest duration in seconds, fewest samples it must cover)
_DURATIONS: dict[str, tuple[float, float, int]] = {
    "level_shift": (2 * _HOUR, 2 * _DAY, 1),
    "spike": (0.0, 2 * _MINUTE, 1),
    "outage": (10 * _MINUTE, 2 * _HOUR, 1),
    "latency_degradation": (15 * _MINUTE, 4 * _HOUR, 1),
    "error_burst": (5 * _MINUTE, _HOUR, 1),
    "memory_leak": (6 * _HOUR, 2 * _DAY, 1),
    "stuck": (_HOUR, 12 * _HOUR, 3),
    "queue_backlog": (20 * _MINUTE, 3 * _HOUR, 1),
    "disk_fill": (_HOUR, 12 * _HOUR, 1),
}
KINDS = tuple(_DURATIONS)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    if low <= 0:
        return rng.uniform(low, high)
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _inject(kind, shape, values, inside, t, start, end, sigma, p, step, rng):
    """Values with the incident ``kind`` applied to the points ``inside`` [start, end]."""
    n = int(inside.sum())
    if n == 0:
        return values
    share = (t[inside] - start) / max(end - start, step)  # 0 at the start, about 1 at the end
    out = values.copy()
    if kind == "level_shift":
        if shape == "replicas":
            lost = max(1.0, round(rng.uniform(1 / 3, 2 / 3) * p["base"]))
            out[inside] = np.maximum(values[inside] - lost, 0)
        elif shape == "constant":
            out[inside] = values[inside] * rng.uniform(1.5, 4.0)
        elif shape == "boot_time":
            out[t >= start] = float(math.floor(_EPOCH_START + start))
        else:
            out[inside] = values[inside] + rng.choice([-1, 1]) * rng.uniform(6, 12) * sigma
    elif kind == "spike":
        if shape == "latency":
            out[inside] = values[inside] * rng.uniform(3, 10)
        else:
            out[inside] = values[inside] + rng.uniform(8, 20) * sigma
    elif kind == "outage":
        out[inside] = 0.0
    elif kind == "latency_degradation":
        out[inside] = values[inside] * rng.uniform(2, 5)
    elif kind == "error_burst":
        out[inside] = values[inside] + rng.poisson(rng.uniform(0.2, 2.0) * step, n)
    elif kind == "memory_leak":
        out[inside] = values[inside] + share * rng.uniform(15, 40) * sigma
    elif kind == "stuck":
        before = np.flatnonzero(t < start)
        if len(before):
            out[inside] = values[before[-1]]
    elif kind == "queue_backlog":
        peak = rng.uniform(50, 200) * p["scale"]
        ramp = np.minimum(share / 0.7, (1 - share) / 0.3).clip(0, 1)
        out[inside] = values[inside] + np.round(peak * ramp)
    elif kind == "disk_fill":
        grown = values[inside] + share * rng.uniform(0.05, 0.25) * p["capacity"]
        out[inside] = np.minimum(grown, p["capacity"])
    else:
        raise ValueError(f"unknown incident kind {kind!r}")
    return out


# --- specs and rendering ------------------------------------------------------------------------


def _schedule(rng, kinds, weeks, n_wanted) -> list[tuple[float, float, str]]:
    horizon = weeks * 7 * _DAY
    incidents: list[tuple[float, float, str]] = []
    for _ in range(n_wanted * 20):
        if len(incidents) >= n_wanted:
            break
        kind = kinds[int(rng.integers(len(kinds)))]
        low, high, _ = _DURATIONS[kind]
        duration = _log_uniform(rng, low, high)
        latest = horizon - duration - _HOUR
        if latest <= WARM_UP:
            continue  # too long for this series (a series under 2 days has no incident)
        start = math.floor(rng.uniform(WARM_UP, latest))
        end = start + duration
        if all(start > e + INCIDENT_SPACING or end < s - INCIDENT_SPACING for s, e, _ in incidents):
            incidents.append((start, end, kind))
    return sorted(incidents)


def _gaps(rng, weeks, incidents) -> list[tuple[float, float]]:
    horizon = weeks * 7 * _DAY
    gaps = []
    for _ in range(int(rng.poisson(weeks))):
        duration = _log_uniform(rng, 5 * _MINUTE, 2 * _HOUR)
        start = rng.uniform(_HOUR, horizon - duration)
        # No gap across an incident or its label allowance (up to 2 hourly steps).
        if all(start > e + 3 * _HOUR or start + duration < s - _HOUR for s, e, _ in incidents):
            gaps.append((start, start + duration))
    return sorted(gaps)


def _interval(index: int, n_shapes: int, intervals: Sequence[float]) -> float:
    # Intervals go round within each round of shapes, shifted by one each round: any
    # len(intervals) consecutive series hold every interval, and with 10 shapes and 4 intervals
    # every shape meets every interval once in 4 rounds (40 series).
    return float(intervals[(index + index // n_shapes) % len(intervals)])


def series_spec(
    index: int, seed: int, weeks: float, shape: str | None = None, step: float | None = None
) -> SeriesSpec:
    """The ``index``-th process of the fleet ``seed``: shape and interval as :func:`fleet`
    assigns them unless given; all else is drawn from ``(seed, index)`` and does not depend on
    ``step``.

    >>> spec = series_spec(12, seed=1, weeks=2)
    >>> spec.name, spec.shape, spec.step
    ('s0012_request_rate_60s', 'request_rate', 60.0)
    >>> spec.incidents == series_spec(12, seed=1, weeks=2, step=3600).incidents
    True
    """
    shape = shape or SHAPES[index % len(SHAPES)]
    step = float(step or _interval(index, len(SHAPES), INTERVALS))
    spec_of = SHAPE_SPECS[shape]
    params_seq, schedule_seq, gaps_seq = np.random.SeedSequence([seed, index]).spawn(3)
    rng = np.random.default_rng(params_seq)
    params = spec_of.draw(rng)
    tz = float(rng.choice(TZ_OFFSETS_HOURS))
    season = str(rng.choice(SEASONS, p=[0.15, 0.35, 0.5])) if spec_of.seasonal else "none"
    weekend_factor = float(rng.uniform(0.3, 0.9))
    missing_rate = float(rng.uniform(0, 0.01))
    n_wanted = max(1, int(np.random.default_rng(schedule_seq).poisson(INCIDENTS_PER_WEEK * weeks)))
    incidents = _schedule(np.random.default_rng(schedule_seq), spec_of.kinds, weeks, n_wanted)
    gaps = _gaps(np.random.default_rng(gaps_seq), weeks, incidents)
    return SeriesSpec(
        name=f"s{index:04d}_{shape}_{step:g}s",
        shape=shape,
        step=step,
        seed=seed * 1_000_003 + index,
        weeks=weeks,
        tz_offset_hours=tz,
        season=season,
        weekend_factor=weekend_factor,
        missing_rate=missing_rate,
        params=params,
        incidents=tuple(incidents),
        gaps=tuple(gaps),
    )


def render(spec: SeriesSpec, incidents: bool = True) -> FleetSeries:
    """Sample the process every ``spec.step`` seconds for ``spec.weeks`` weeks, with its
    incidents injected and labelled (``incidents=False``: the same data without them).

    >>> spec = series_spec(0, seed=0, weeks=1)
    >>> quiet, loud = render(spec, incidents=False), render(spec)
    >>> len(quiet.frame) == len(loud.frame), quiet.incidents, len(loud.incidents) >= 1
    (True, (), True)
    """
    shape = SHAPE_SPECS[spec.shape]
    t = np.arange(0.0, spec.weeks * 7 * _DAY, spec.step)
    cycle = season_profile(t, spec.tz_offset_hours, spec.season, spec.weekend_factor)
    noise_rng = np.random.default_rng([spec.seed, int(spec.step)])
    values, sigma = shape.sample(t, cycle, spec.params, spec.step, noise_rng)
    keep = noise_rng.random(len(t)) >= spec.missing_rate
    for start, end in spec.gaps:
        keep &= (t < start) | (t > end)
    kept: list[Incident] = []
    if incidents:
        for number, (start, end, kind) in enumerate(spec.incidents):
            incident_rng = np.random.default_rng([spec.seed, 7, number])  # sizes, not by step
            end = max(end, start + _DURATIONS[kind][2] * spec.step)  # long enough to be seen
            inside = (t >= start) & (t <= end)
            values = _inject(
                kind,
                spec.shape,
                values,
                inside,
                t,
                start,
                end,
                sigma,
                spec.params,
                spec.step,
                incident_rng,
            )
            if (inside & keep).any():
                bounds = (START + pd.Timedelta(seconds=s) for s in (start, end))
                kept.append(Incident(*bounds, kind))
    values = np.clip(values, 0.0, shape.upper)  # every shape is a non-negative quantity
    stamps = START + pd.to_timedelta(t[keep], unit="s")
    frame = pd.DataFrame({"timestamp": stamps, "value": values[keep]})
    return FleetSeries(spec, frame, tuple(kept))


def fleet(
    n_series: int,
    weeks: float,
    seed: int = 0,
    incidents: bool = True,
    shapes: Sequence[str] | None = None,
    intervals: Sequence[float] | None = None,
) -> list[FleetSeries]:
    """``n_series`` rendered series: shapes go round ``shapes`` (default :data:`SHAPES`) and
    sampling intervals round ``intervals`` (default :data:`INTERVALS`), shifted by one at each
    round of shapes: any 4 consecutive series hold the 4 intervals, and 40 series hold every
    shape at every interval once.

    >>> [s.spec.step for s in fleet(4, 1, shapes=["cpu", "disk"], intervals=[60, 3600])]
    [60.0, 3600.0, 3600.0, 60.0]
    """
    shapes = tuple(shapes or SHAPES)
    intervals = tuple(intervals or INTERVALS)
    out = []
    for index in range(n_series):
        shape = shapes[index % len(shapes)]
        step = _interval(index, len(shapes), intervals)
        out.append(render(series_spec(index, seed, weeks, shape=shape, step=step), incidents))
    return out

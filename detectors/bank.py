"""Many detector stacks in numpy arrays, run by one compiled loop.

:class:`StackBank` holds the state of any number of series as struct-of-arrays: for every part of
the stack (:mod:`detectors.parts`), one array per field the part declares, with one row per
series, or *slot* (:mod:`detectors.layout`); it runs points through the stack's compiled loop
(:func:`detectors.kernel.process_points`). A series' state goes out and back in as a dict of
those fields (:meth:`StackBank.export_slot`, :mod:`detectors.state_format`).

The season is the only state whose size depends on the series: a stack learns its sampling
interval from its first ``n_lags`` points and only then sizes its seasonal profile and season
history (``season / step`` buckets, at most ``max_season_length``: buckets of fixed time, so
that a 15-second series keeps the 288 buckets of a 5-minute one). Those live in a shared pool,
one segment per slot allocated when the slot learns its step, so an hourly series does not
cost what a 5-minute one does.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import heapq
import inspect

import numpy as np

from detectors import kernel, layout
from detectors.kernel import DETECTOR_NAMES, INCIDENT_NAMES, PARTS, part_name
from detectors.parts import alert
from detectors.parts.combination import COMBINATIONS
from detectors.parts.seasonal import segment_floats

__all__ = ["BankResults", "StackBank", "warm_up"]

#: Fewer points than this are scored on one thread: the split would cost more than it saves.
MIN_POINTS_PER_SPLIT = 4096
# Seasons reserved at most before two threads run (about 290 MiB of untouched pool at most,
# which costs no memory until used; beyond, a thread stops and the pool grows).
_MAX_RESERVED_SEASONS = 8192

#: Alert transitions in :attr:`BankResults.transition`.
NO_TRANSITION, OPENED, RESOLVED = kernel.NO_TRANSITION, kernel.OPENED, kernel.RESOLVED


@dataclasses.dataclass(frozen=True)
class BankResults:
    """What the stacks concluded about each point, one array entry per input point.

    The fields are those of :class:`~detectors.stack.Assessment`: ``anomaly_score`` is the
    calibrated combined score of every point (continuous, in [0, 1]), ``onset_score`` the same
    where it sets a new recent high, 0 elsewhere (an onset: what opens an alert). The alert
    transition is spread over ``transition`` (0: none, 1: opened, 2: resolved) and its fields
    (NaN without a transition; ``alert_end`` is NaN unless resolved).
    """

    anomaly_score: np.ndarray
    onset_score: np.ndarray
    alert: np.ndarray
    transition: np.ndarray
    alert_start: np.ndarray
    alert_end: np.ndarray
    peak_score: np.ndarray
    peak_at: np.ndarray
    zscore: np.ndarray
    hst_score: np.ndarray
    forecast_score: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    agreeing: np.ndarray  # bit d set: the bank's d-th detector alone reached the threshold
    resolve_reason: np.ndarray  # why a resolved alert resolved (alert.RECOVERED, ACCEPTED), or 0

    @classmethod
    def empty(cls, n: int) -> BankResults:
        arrays = {field.name: np.empty(n) for field in dataclasses.fields(cls)}
        arrays["alert"] = np.empty(n, dtype=bool)
        arrays["transition"] = np.empty(n, dtype=np.int8)
        arrays["agreeing"] = np.empty(n, dtype=np.int64)
        arrays["resolve_reason"] = np.empty(n, dtype=np.int8)
        return cls(**arrays)

    def __len__(self) -> int:
        return len(self.anomaly_score)

    @property
    def combined(self) -> np.ndarray:
        """``anomaly_score`` under its name from before ``onset_score`` (the combined score
        before the onset rule): kept for code written against it."""
        return self.anomaly_score


class StackBank:
    """The default detector stack for many series at once, compiled.

    ``add_series`` returns a slot; ``process(slots, timestamps, values)`` scores then learns
    each point, in order, on its slot's stack (points of different slots may be interleaved) and
    returns :class:`BankResults`; what the stack does is in :mod:`detectors.kernel`. Every
    series has the same parameters. ``tests/test_bank.py`` checks the results against the
    readable reference (``tests/reference/stack.py``), point for point: alerts and transitions
    identically, scores to about 1e-12 (the forecaster solves its normal equations by
    Cholesky in another order than LAPACK, which changes the last bits).

    State lives in arrays with one row per slot (capacity doubles as slots are added) and the
    season in a pool sized by the series' own season lengths: see
    :meth:`memory_bytes_per_series`. :meth:`export_slot` and :meth:`import_slot` take a
    series' state out and back in, to checkpoint or move one series.

    Parameters
    ----------
    detectors
        Detectors combined into the score (a subset of ``DETECTOR_NAMES``).
    window_size
        Rolling window of the z-score and of the shape features.
    n_lags, forgetting_factor
        The lag forecaster's parameters.
    season, max_season_length
        Season in seconds (0: none) and the most buckets it is cut into (288: 5 minutes a
        day); a series sampled faster keeps the mean of several points per bucket.
    n_trees, height, hst_window_size
        The Half-Space-Trees parameters.
    long_window, grace_period, record_gain
        The calibration's memory in points, the points before any score is above 0, and how fast
        the score grows for a raw score beyond everything remembered.
    combination, recalibration_grace
        How detectors are combined (``"fisher"`` or ``"max"``) and the points of combined
        evidence seen before the recalibration lets any score through (0: no recalibration).
    range_break
        Whether a value out of the range of about the last ``long_window`` values can raise
        the score (its name then appears in ``agreeing`` when it reaches ``threshold``).
    return_is_surprise
        Whether a return to the seasonal usual right after an unusual point keeps its forecast
        surprise (see 2.) instead of being excused by the season.
    weekly_season
        Whether a series whose values the daily profile explains better with a correction per
        hour of the week uses it (see :mod:`detectors.parts.weekly`); False: the daily alone.
    spread_floor, min_surprise, volatility_window, score_decades, refractory, onset_margin
        See above.
    gap_steps
        A silence longer than this many sampling intervals is a gap: the lag-based models
        restart their windows, so the first point after it is not mistaken for a jump.
    threshold, min_duration, cooldown
        An alert opens at ``min_duration`` onsets in a row scoring at least ``threshold``; after
        it resolves, ``cooldown`` points open none (see :mod:`detectors.parts.alert`).
    resolve_threshold, quiet_time, accept_after
        The incident state: a firing alert stays open while the value is at least
        ``resolve_threshold`` standard deviations from the expectation frozen at its opening,
        resolves (``recovered``) ``max(quiet_time, 2 steps)`` seconds of the series' time after
        the last such point, or (``accepted new level``) after firing ``accept_after`` seconds
        (0: never).
    freeze_while_firing
        Whether the forecaster (its weights and band) and the seasonal profile stop learning
        while an alert fires (off: it costs NAB's standard score 7 to 12 points).
    exit_threshold
        The combined score that keeps an alert open while no expectation is frozen yet (an
        alert opened during warm-up; None: ``threshold``).
    paging_interval
        Seconds of the series' time over which a combined score's tail probability holds: a
        series sampled faster must be ``paging_interval / step`` times rarer to score as much,
        so that it does not page more often per week only because it has more points (0: per
        point, as before).
    warm_up_time
        Seconds of a series' time after which its calibrations may score, when that is fewer
        points than ``grace_period`` (and ``recalibration_grace``), but at least 24 points;
        the onset's quiet period (``refractory``) is no longer either. 172,800 (the default,
        two days): an hourly series pages from its third day, not after ten, and is not kept
        quiet for eight days after an onset; series sampled every 5 minutes or faster are
        unchanged (two days are more points than either). 0: points only.
    memory_time, refractory_time
        Seconds of a series' time that the calibrations and the range break remember
        (``memory_time``, when longer than ``long_window`` points; 0: points only) and that an
        onset must beat the scores of (``refractory_time``, whatever the sampling interval, but
        no longer than the warm-up; 0: ``refractory`` points). ``refractory_time`` is 60,000 s
        by default, the 200 points of a 5-minute series (NAB's, unchanged): a 15-second,
        1-minute and hourly series wait as long between onsets (16.7 hours; it was 12,000 s or
        200 points, the longer: 3.3 hours at 15 s and 1 minute, two days at 1 hour). On the
        quick protocol the quiet fleet pages 1.88 times per series-week instead of 3.15 (15 s
        5.50 -> 2.85, 1 min 5.05 -> 2.60, 5 min and 1 h unchanged), event recall 0.83 -> 0.87
        (hourly 0.63 -> 0.74), SMD's alerts 39.04 -> 44.38 (event recall 0.78 either way).
        ``memory_time`` 1.5e6 (the 17 days of a 5-minute series) makes a 15-second series'
        calibration records as rare per day as a 5-minute one's (quiet 15 s 5.50 -> 4.15) but
        costs the 15-second fleet a tenth of its recall (1.00 -> 0.89) and SMD its (0.78 ->
        0.72): a choice, not a default. With ``paging_interval`` 3600, ``memory_time`` 1.5e6
        is what lets a 15-second series express a score rare per hour, but that pair costs
        NAB's alerts 25 points (bench/README.md, "the calibration round").
    seed
        Seed of the Half-Space-Trees, shared by every series: it must be fixed.

    Examples
    --------
    Two series, interleaved:

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> bank = StackBank(grace_period=200)
    >>> cpu, memory = bank.add_series(), bank.add_series()
    >>> t = 60.0 * np.arange(800)
    >>> values = {cpu: 50 + 10 * np.sin(t / 1200) + rng.normal(0, 1, 800), memory: 5 + t / 1e4}
    >>> values[cpu][700] = 120  # a spike
    >>> slots = np.tile([cpu, memory], 800)  # cpu, memory, cpu, memory, ...
    >>> points = np.column_stack([values[cpu], values[memory]]).ravel()
    >>> results = bank.process(slots, np.repeat(t, 2), points)
    >>> on_cpu = slots == cpu
    >>> int(np.argmax(results.anomaly_score[on_cpu])), bool(results.alert[on_cpu][700])
    (700, True)
    >>> float(results.onset_score[on_cpu][700]) == float(results.anomaly_score[on_cpu][700])
    True
    >>> bank.memory_bytes_per_series()  # a day of 288 five-minute buckets takes 4 kB of it
    15421

    A series' state moves to another bank and carries on there:

    >>> state = bank.export_slot(cpu)
    >>> twin = StackBank(grace_period=200)
    >>> copy = twin.import_slot(state)
    >>> a = bank.process(np.array([cpu]), np.array([48000.0]), np.array([51.0]))
    >>> b = twin.process(np.array([copy]), np.array([48000.0]), np.array([51.0]))
    >>> bool(a.anomaly_score[0] == b.anomaly_score[0]), bool(a.expected[0] == b.expected[0])
    (True, True)
    """

    def __init__(
        self,
        detectors: tuple[str, ...] = ("forecast", "hst", "volatility"),
        window_size: int = 12,
        n_lags: int = 24,
        forgetting_factor: float = 0.999,
        season: float = 86400.0,
        max_season_length: int = 288,
        n_trees: int = 10,
        height: int = 8,
        hst_window_size: int = 250,
        long_window: int = 5000,
        grace_period: int = 250,
        record_gain: float = 4.0,
        spread_floor: float = 0.1,
        min_surprise: float = 3.0,
        volatility_window: int = 24,
        score_decades: float = 6.0,
        refractory: int = 200,
        onset_margin: float = 0.02,
        gap_steps: float = 6.0,
        threshold: float = 0.36,
        exit_threshold: float | None = None,
        min_duration: int = 1,
        cooldown: int = 0,
        resolve_threshold: float = alert.RESOLVE_THRESHOLD,
        quiet_time: float = alert.QUIET_TIME,
        accept_after: float = alert.ACCEPT_AFTER,
        freeze_while_firing: bool = False,
        combination: str = "fisher",
        recalibration_grace: int = 100,
        seed: int | None = 42,
        range_break: bool = True,
        return_is_surprise: bool = True,
        weekly_season: bool = True,
        paging_interval: float = 300.0,
        warm_up_time: float = 172800.0,
        memory_time: float = 0.0,
        refractory_time: float = 60000.0,
    ):
        params = {
            name: value for name, value in locals().items() if name not in ("self", "__class__")
        }
        _check(params)
        for name, value in params.items():
            setattr(self, name, value)
        self.detectors = tuple(detectors)

        # One calibrator per distinct detector, in order
        names = tuple(dict.fromkeys(self.detectors))
        # Bit d of BankResults.agreeing is detector_names[d]: the range break, then the incident
        # kinds (detectors.kernel.INCIDENTS) come last.
        self.detector_names = names + (("range",) if range_break else ()) + INCIDENT_NAMES
        self._detector_codes = np.array([DETECTOR_NAMES.index(n) for n in names], dtype=np.int64)
        self._params = kernel.params_of(params)
        # The forecaster's system size, as a tuple whose length numba compiles in
        self._size_marker = (0.0,) * self._params.forecaster.size
        self._capacity = 0
        self._state = {
            part_name(m): layout.allocate(m.State, m.FIELDS, self._constants(m), 0) for m in PARTS
        }
        self._active = np.zeros(0, dtype=bool)
        self._season_floats = np.zeros(0, dtype=np.float32)
        self._season_counts = np.zeros(0, dtype=np.uint16)
        self._pool_top = np.zeros(2, dtype=np.int64)
        self._free: list[int] = []  # a heap: the lowest free slot is reused first
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None  # process(threads=2)
        self._n_series = 0

    def _constants(self, part):
        return getattr(self._params, part_name(part))

    def state_layout(self) -> dict[str, tuple[tuple, np.dtype]]:
        """Shape and dtype of each named piece of a series' state (``"part.field"``), as
        :meth:`export_slot` gives it, without the season segments."""
        return {
            f"{part_name(m)}.{name}": shape_dtype
            for m in PARTS
            for name, shape_dtype in layout.row_shapes(m.FIELDS, self._constants(m)).items()
        }

    def new_series_state(self) -> dict[str, np.ndarray]:
        """The state of a new series, as :meth:`export_slot` gives it."""
        state = {
            f"{part_name(m)}.{f.name}": np.full(
                f.shape_for(self._constants(m)), f.initial, f.dtype_for(self._constants(m))
            )
            for m in PARTS
            for f in m.FIELDS
        }
        state["season_floats"] = np.zeros(0, np.float32)
        state["season_counts"] = np.zeros(0, np.uint16)
        return state

    def _reset(self, slot: int) -> None:
        """Give ``slot`` the state of a new series."""
        for m in PARTS:
            st = self._state[part_name(m)]
            for f in m.FIELDS:
                getattr(st, f.name)[slot] = f.initial

    def parameters(self) -> dict:
        """The keyword arguments of the bank (``StackBank(**bank.parameters())`` is a twin).

        >>> StackBank(threshold=0.5).parameters()["threshold"]
        0.5
        """
        names = inspect.signature(StackBank).parameters
        return {name: getattr(self, name) for name in names}

    @property
    def n_series(self) -> int:
        """Number of series (slots in use)."""
        return self._n_series

    def __len__(self) -> int:
        return self._n_series

    def add_series(self) -> int:
        """A new series' slot, with the state of a new series."""
        if self._free:
            slot = heapq.heappop(self._free)
        else:
            slot = self._capacity
            self._grow_rows(max(1, 2 * self._capacity))
            for spare in range(slot + 1, self._capacity):
                heapq.heappush(self._free, spare)
        self._reset(slot)
        self._active[slot] = True
        self._n_series += 1
        return slot

    def remove_series(self, slot: int) -> None:
        """Forget ``slot``'s series; ``add_series`` may hand the slot out again."""
        self._check_slot(slot)
        self._reset(slot)  # its season segment is reclaimed when the pool next grows
        self._active[slot] = False
        heapq.heappush(self._free, slot)
        self._n_series -= 1

    def _check_slot(self, slot: int) -> None:
        if not (0 <= slot < self._capacity and self._active[slot]):
            raise ValueError(f"no series in slot {slot}")

    def _grow_rows(self, capacity: int) -> None:
        for m in PARTS:
            name = part_name(m)
            self._state[name] = layout.grow(
                self._state[name], m.FIELDS, self._constants(m), capacity
            )
        active = np.zeros(capacity, dtype=bool)
        active[: self._capacity] = self._active
        self._active = active
        self._capacity = capacity

    def _grow_pool(self, floats_needed: int, counts_needed: int) -> None:
        """Compact the live season segments into bigger pools with room for more."""
        seasons = self._state["seasonal"]
        live = np.flatnonzero(self._active & (seasons.length > 0))
        lengths = seasons.length[live]
        live_floats = sum(segment_floats(n) for n in lengths.tolist())
        live_counts = int(np.sum(lengths))
        floats = np.zeros(max(1024, 2 * (live_floats + floats_needed)), dtype=np.float32)
        counts = np.zeros(max(256, 2 * (live_counts + counts_needed)), dtype=np.uint16)
        floats_top = counts_top = 0
        for slot, length in zip(live.tolist(), lengths.tolist(), strict=True):
            at = seasons.float_offset[slot]
            size = segment_floats(length)
            floats[floats_top : floats_top + size] = self._season_floats[at : at + size]
            at = seasons.count_offset[slot]
            counts[counts_top : counts_top + length] = self._season_counts[at : at + length]
            seasons.float_offset[slot] = floats_top
            seasons.count_offset[slot] = counts_top
            floats_top += size
            counts_top += length
        self._season_floats, self._season_counts = floats, counts
        self._pool_top[:] = floats_top, counts_top

    def _kernel(self, start, slots, timestamps, values, outputs, pool_room) -> int:
        """``kernel.process_points`` from point ``start`` with seasons allocated in
        ``pool_room``; returns how many points are done."""
        state = kernel.State(
            **self._state,
            season_floats=self._season_floats,
            season_counts=self._season_counts,
            pool_room=pool_room,
        )
        return kernel.process_points(
            start,
            slots,
            timestamps,
            values,
            self._params,
            self._detector_codes,
            state,
            outputs,
            self._size_marker,
        )

    def process(self, slots, timestamps, values, threads: int = 1) -> BankResults:
        """Score then learn each point ``(timestamps[i], values[i])`` on the stack of ``slots[i]``.

        Points are processed in order; timestamps are epoch seconds. With ``threads=2`` and a
        batch of several series (at least 4,096 points), the series are split into two groups
        of about as many points, run at once on two threads (the kernel releases the GIL);
        each series' points stay in order, so the results are the same.
        """
        slots = np.ascontiguousarray(slots, dtype=np.int64)
        timestamps = np.ascontiguousarray(timestamps, dtype=np.float64)
        values = np.ascontiguousarray(values, dtype=np.float64)
        if not (slots.ndim == timestamps.ndim == values.ndim == 1):
            raise ValueError("slots, timestamps and values must be 1-D arrays")
        if not (len(slots) == len(timestamps) == len(values)):
            raise ValueError("slots, timestamps and values must have the same length")
        if len(slots) and (
            slots.min() < 0 or slots.max() >= self._capacity or not self._active[slots].all()
        ):
            raise ValueError("every slot must hold a series (see add_series)")
        results = BankResults.empty(len(slots))
        groups = _two_groups(slots) if threads > 1 else None
        if groups is None:
            self._run([(slots, timestamps, values, results)])
            return results
        parts = [(slots[g], timestamps[g], values[g], BankResults.empty(len(g))) for g in groups]
        self._run(parts)
        for group, (*_, part) in zip(groups, parts, strict=True):
            for field in dataclasses.fields(BankResults):
                getattr(results, field.name)[group] = getattr(part, field.name)
        return results

    def _run(self, parts: list[tuple]) -> None:
        """Run each part (slots, timestamps, values, results), parts with disjoint slots, the
        second on a worker thread; grow the season pool whenever a part runs out of it."""
        outputs = [
            kernel.Outputs(*(getattr(part[3], name) for name in kernel.Outputs._fields))
            for part in parts
        ]
        done = [0] * len(parts)
        while True:
            todo = [k for k, part in enumerate(parts) if done[k] < len(part[0])]
            if not todo:
                return
            if len(todo) == 1:
                k = todo[0]
                room = self._pool_room()
                done[k] = self._kernel(done[k], *parts[k][:3], outputs[k], room)
                self._pool_top[:] = room[:2]
            else:
                done = self._run_two(parts, outputs, done)
            if any(done[k] < len(parts[k][0]) for k in todo):  # the season pool is full
                self._grow_pool(segment_floats(self.max_season_length), self.max_season_length)

    def _run_two(self, parts: list[tuple], outputs: list, done: list[int]) -> list[int]:
        """Both parts at once, the second on the worker thread, each allocating seasons in its
        own share of the pool's free space (sized by its series still without one, so that
        neither stops long before the other); returns how far each got."""
        first_slots, second_slots = (np.unique(part[0]) for part in parts)
        seasonless = [self._count_seasonless(first_slots), self._count_seasonless(second_slots)]
        needed = min(sum(seasonless), _MAX_RESERVED_SEASONS)
        room = self._pool_room()
        length = self.max_season_length
        floats_needed, counts_needed = needed * segment_floats(length), needed * length
        if room[0] + floats_needed > room[2] or room[1] + counts_needed > room[3]:
            self._grow_pool(floats_needed, counts_needed)
        top_floats, top_counts = self._pool_top.tolist()
        end_floats, end_counts = len(self._season_floats), len(self._season_counts)
        share = (seasonless[0] + 1) / (sum(seasonless) + 2)
        mid_floats = top_floats + int((end_floats - top_floats) * share)
        mid_counts = top_counts + int((end_counts - top_counts) * share)
        rooms = [
            np.array([top_floats, top_counts, mid_floats, mid_counts]),
            np.array([mid_floats, mid_counts, end_floats, end_counts]),
        ]
        second = self._worker().submit(self._kernel, done[1], *parts[1][:3], outputs[1], rooms[1])
        first_done = self._kernel(done[0], *parts[0][:3], outputs[0], rooms[0])
        second_done = second.result()
        self._join_pool_rooms(rooms, second_slots)
        self._pool_top[:] = rooms[0][:2]
        return [first_done, second_done]

    def _count_seasonless(self, slots: np.ndarray) -> int:
        """Series of ``slots`` that may still allocate their season."""
        return int(np.count_nonzero(self._state["sampling"].started[slots] == 0))

    def _pool_room(self) -> np.ndarray:
        """The pools' free space: [floats used, counts used, floats end, counts end]."""
        top_floats, top_counts = self._pool_top.tolist()
        return np.array(
            [top_floats, top_counts, len(self._season_floats), len(self._season_counts)]
        )

    def _join_pool_rooms(self, rooms: list[np.ndarray], second_slots: np.ndarray) -> None:
        """Move the seasons the second part allocated in its half down to the end of the
        first part's, so that the pools stay one used block; ``rooms[0]`` then covers both."""
        first_floats, first_counts, mid_floats, mid_counts = rooms[0].tolist()
        used_floats = int(rooms[1][0]) - mid_floats
        used_counts = int(rooms[1][1]) - mid_counts
        if used_floats:
            self._season_floats[first_floats : first_floats + used_floats] = self._season_floats[
                mid_floats : mid_floats + used_floats
            ]
            self._season_counts[first_counts : first_counts + used_counts] = self._season_counts[
                mid_counts : mid_counts + used_counts
            ]
            seasons = self._state["seasonal"]
            moved = second_slots[
                (seasons.length[second_slots] > 0)
                & (seasons.float_offset[second_slots] >= mid_floats)
            ]
            seasons.float_offset[moved] -= mid_floats - first_floats
            seasons.count_offset[moved] -= mid_counts - first_counts
        rooms[0][:2] = first_floats + used_floats, first_counts + used_counts

    def _worker(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, "lookout-bank")
        return self._executor

    def agreeing_names(self, mask: int) -> tuple[str, ...]:
        """The detectors of a :attr:`BankResults.agreeing` bit mask, in the stack's order."""
        return tuple(name for d, name in enumerate(self.detector_names) if mask >> d & 1)

    def sampling_interval(self, slot: int) -> float:
        """The median step between the first points of ``slot``'s series, in seconds (0 until
        ``n_lags`` points were seen)."""
        self._check_slot(slot)
        return float(self._state["sampling"].step[slot])

    def sampling_intervals(self, slots: np.ndarray) -> np.ndarray:
        """:meth:`sampling_interval` of many slots at once (live slots only, unchecked)."""
        return self._state["sampling"].step[np.asarray(slots, dtype=np.int64)]

    def points_seen(self, slots: np.ndarray) -> np.ndarray:
        """Points each of ``slots`` has scored and learned (live slots only, unchecked): what
        says whether a series is still warming up."""
        return self._state["combination"].n_seen[np.asarray(slots, dtype=np.int64)]

    def memory_bytes_per_series(self) -> int:
        """Bytes of state per series: one row of every part's state, plus the series' mean
        share of the season pool in use."""
        row = self._active.itemsize + sum(
            layout.row_bytes(m.FIELDS, self._constants(m)) for m in PARTS
        )
        floats, counts = self._pool_top.tolist()
        pool = floats * self._season_floats.itemsize + counts * self._season_counts.itemsize
        return row + round(pool / max(self._n_series, 1))

    def export_slot(self, slot: int) -> dict[str, np.ndarray]:
        """A copy of ``slot``'s state, data only: one array per declared field, named
        ``"part.field"`` (:meth:`state_layout`), and ``season_floats`` / ``season_counts``, the
        slot's season segments (empty without a season). :meth:`import_slot` of a bank with the
        same parameters restores it."""
        self._check_slot(slot)
        state = {
            f"{part_name(m)}.{f.name}": np.array(getattr(self._state[part_name(m)], f.name)[slot])
            for m in PARTS
            for f in m.FIELDS
        }
        seasons = self._state["seasonal"]
        length = int(seasons.length[slot])
        at = int(seasons.float_offset[slot])
        state["season_floats"] = self._season_floats[at : at + segment_floats(length)].copy()
        at = int(seasons.count_offset[slot])
        state["season_counts"] = self._season_counts[at : at + length].copy()
        if not length:
            state["season_floats"] = state["season_floats"][:0]
        state["seasonal.float_offset"] = state["seasonal.count_offset"] = np.array(0)
        return state

    def import_slot(self, state: dict[str, np.ndarray]) -> int:
        """A new slot holding the series exported by :meth:`export_slot`."""
        shapes = self.state_layout()
        expected = set(shapes) | {"season_floats", "season_counts"}
        if set(state) != expected:
            missing, unknown = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ValueError(f"a series state lacks {missing} and has unknown {unknown}")
        for name, (shape, dtype) in shapes.items():
            array = np.asarray(state[name])
            if array.shape != shape or array.dtype != dtype:
                raise ValueError(
                    f"{name}: expected {dtype} {shape}, got {array.dtype} {array.shape}: "
                    "was the state exported by a bank with other parameters?"
                )
        length = int(state["seasonal.length"])
        floats = np.asarray(state["season_floats"], dtype=np.float32)
        counts = np.asarray(state["season_counts"], dtype=np.uint16)
        if len(floats) != segment_floats(length) or len(counts) != length:
            raise ValueError(f"season segments do not fit a season of {length} points")
        slot = self.add_series()
        for name in shapes:
            part, _, field = name.partition(".")
            getattr(self._state[part], field)[slot] = state[name]
        seasons = self._state["seasonal"]
        seasons.float_offset[slot] = seasons.count_offset[slot] = 0
        if length:
            seasons.length[slot] = 0  # no segment yet, for _grow_pool
            top_floats, top_counts = self._pool_top.tolist()
            if top_floats + len(floats) > len(self._season_floats) or top_counts + length > len(
                self._season_counts
            ):
                self._grow_pool(len(floats), length)
                top_floats, top_counts = self._pool_top.tolist()
            self._season_floats[top_floats : top_floats + len(floats)] = floats
            self._season_counts[top_counts : top_counts + length] = counts
            seasons.float_offset[slot], seasons.count_offset[slot] = top_floats, top_counts
            seasons.length[slot] = length
            self._pool_top[:] = top_floats + len(floats), top_counts + length
        return slot


def _check(params: dict) -> None:
    """Refuse parameters the stack cannot run with, naming the parameter."""
    detectors = params["detectors"]
    if not detectors or set(detectors) - set(DETECTOR_NAMES):
        raise ValueError(f"detectors must be a non-empty subset of {DETECTOR_NAMES}")
    if params["combination"] not in COMBINATIONS:
        raise ValueError(
            f"combination must be one of {COMBINATIONS}, got {params['combination']!r}"
        )
    if params["seed"] is None:
        raise ValueError("StackBank shares one forest between its series: seed must be fixed")
    at_least = {
        "n_lags": 1,
        "window_size": 1,
        "long_window": 1,
        "volatility_window": 1,
        "min_duration": 1,
        "n_trees": 1,
        "height": 1,
        "hst_window_size": 1,
        "refractory": 0,
        "cooldown": 0,
        "grace_period": 0,
        "recalibration_grace": 0,
        "max_season_length": 0,
        "paging_interval": 0,
        "warm_up_time": 0,
        "resolve_threshold": 0,
        "quiet_time": 0,
        "accept_after": 0,
        "memory_time": 0,
        "refractory_time": 0,
    }
    for name, low in at_least.items():
        if params[name] < low:
            raise ValueError(f"{name} must be >= {low}, got {params[name]}")
    if not 0 < params["forgetting_factor"] <= 1:
        raise ValueError(f"forgetting_factor must be in (0, 1], got {params['forgetting_factor']}")
    exit_threshold = params["exit_threshold"]
    if exit_threshold is not None and exit_threshold > params["threshold"]:
        raise ValueError("exit_threshold must not exceed threshold")


def warm_up() -> None:
    """Compile (or load from numba's cache) the bank's kernel, so that the first real call
    does not wait for the compiler (``scripts/setup.sh`` runs this once)."""
    bank = StackBank()
    bank.process(np.array([bank.add_series()]), np.zeros(1), np.ones(1))


def _two_groups(slots: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The indexes of ``slots`` in two groups of whole series with about as many points each
    (each in its original order), or None when the batch is too small or holds one series."""
    if len(slots) < MIN_POINTS_PER_SPLIT:
        return None
    distinct, inverse, counts = np.unique(slots, return_inverse=True, return_counts=True)
    if len(distinct) < 2:
        return None
    # Series in slot order, their points counted in that order: a series whose points lie
    # mostly past half the batch's count goes to the second group.
    second = (np.cumsum(counts) - counts / 2) > len(slots) / 2
    if second.all() or not second.any():
        second = np.arange(len(distinct)) >= len(distinct) // 2
    in_second = second[inverse]
    return np.flatnonzero(~in_second), np.flatnonzero(in_second)

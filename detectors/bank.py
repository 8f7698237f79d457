"""Many detector stacks in numpy arrays, run by one compiled loop.

:class:`StackBank` holds the state of any number of series' :class:`~detectors.stack.DetectorStack`
as struct-of-arrays (one row per series, or *slot*) and runs points through one numba kernel
(:mod:`detectors._bank_kernel`). It returns what ``DetectorStack.process`` returns, point for
point, 20 to 30 times faster; ``DetectorStack``, made of small readable classes, stays the
reference, as river stays the reference of :class:`~detectors.hst.HalfSpaceTrees`.

The season is the only state whose size depends on the series: a stack learns its sampling
interval from its first ``n_lags`` points and only then sizes its seasonal profile and season
history (``season / step`` points). Those live in a shared pool, one segment per slot allocated
when the slot learns its step, so a minute-level series does not cost every series 1,500
points of season.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import heapq
import inspect
import math

import numpy as np

from detectors import _bank_kernel as kernel
from detectors.calibration import RESCALE_AT
from detectors.compact import to_float32
from detectors.forecaster import RIDGE_HEADROOM
from detectors.hst import _shared_forest
from detectors.stack import DETECTOR_NAMES, SURPRISE_CAP, DetectorStack, onset_maximum

__all__ = ["BankResults", "StackBank", "warm_up"]

# The parameters of the stack's parts that DetectorStack leaves at their defaults.
_RIDGE = 0.1  # LagForecaster.alpha
_BAND_WIDTH = 3.0
_RESIDUAL_ALPHA = 0.02
_SEASONAL_ALPHA = 0.3  # SeasonalProfile.alpha
_MIN_CYCLES = 2
_ZSCORE_MIN_STD = 1e-6
_N_BINS = 128  # TailProbability's grid
_MAX_SCORE = 1e6
_N_SHAPE_FEATURES = 4
_RANGE_BLOCKS = 10  # BlockedRange.n_blocks
#: Fewer points than this are scored on one thread: the split would cost more than it saves.
MIN_POINTS_PER_SPLIT = 4096
# Seasons reserved at most before two threads run (about 290 MiB of untouched pool at most,
# which costs no memory until used; beyond, a thread stops and the pool grows).
_MAX_RESERVED_SEASONS = 8192
# Columns of the slot's ints in format 2 that went away or moved (to I_FIRING ... I_SPREAD_N).
_V2_RECENT_HEAD, _V2_RECENT_LENGTH, _V2_MOVED_INTS = 19, 20, (21, 22, 23, 24)
# Format 3 and 4: the index of the onset's maximum in its ring of scores.
_V4_RECENT_MAX_AT = kernel.I_UNUSED

#: Alert transitions in :attr:`BankResults.transition`.
NO_TRANSITION, OPENED, RESOLVED = kernel.NO_TRANSITION, kernel.OPENED, kernel.RESOLVED


@dataclasses.dataclass(frozen=True)
class BankResults:
    """What the stacks concluded about each point, one array entry per input point.

    The fields are those of :class:`~detectors.stack.Assessment`, plus ``combined`` (the
    score before the onset rule), with the alert transition spread over ``transition``
    (0: none, 1: opened, 2: resolved) and its fields (NaN without a transition;
    ``alert_end`` is NaN unless resolved).
    """

    anomaly_score: np.ndarray
    combined: np.ndarray
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

    @classmethod
    def empty(cls, n: int) -> BankResults:
        arrays = {field.name: np.empty(n) for field in dataclasses.fields(cls)}
        arrays["alert"] = np.empty(n, dtype=bool)
        arrays["transition"] = np.empty(n, dtype=np.int8)
        arrays["agreeing"] = np.empty(n, dtype=np.int64)
        return cls(**arrays)

    def __len__(self) -> int:
        return len(self.anomaly_score)


class StackBank:
    """The default detector stack for many series at once, compiled.

    Takes the parameters of :class:`~detectors.stack.DetectorStack`, under the same names and
    with the same defaults, and applies them to every series. ``add_series`` returns a slot;
    ``process(slots, timestamps, values)`` scores then learns each point, in order, on its
    slot's stack (points of different slots may be interleaved) and returns
    :class:`BankResults` equal to what one ``DetectorStack`` per slot returns, point for point:
    alerts and transitions identically, scores to about 1e-12 (the forecaster solves its
    normal equations by Cholesky in another order than LAPACK, which changes the last bits).

    State lives in arrays with one row per slot (capacity doubles as slots are added) and the
    season in a pool sized by the series' own season lengths: see
    :meth:`memory_bytes_per_series`. :meth:`export_slot` and :meth:`import_slot` take a
    series' state out and back in, to checkpoint or move one series.

    Parameters
    ----------
    detectors, window_size, n_lags, forgetting_factor, season, max_season_length, n_trees, height,
    hst_window_size, long_window, grace_period, record_gain, spread_floor, min_surprise,
    volatility_window, score_decades, refractory, onset_margin, gap_steps, threshold,
    exit_threshold, min_duration, cooldown, combination, recalibration_grace, seed
        As in :class:`~detectors.stack.DetectorStack`. The Half-Space-Trees are shared by every
        series, so ``seed`` must be fixed.

    Examples
    --------
    Two series, interleaved, each against its own ``DetectorStack``:

    >>> import numpy as np
    >>> from detectors import DetectorStack
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
    >>> stack = DetectorStack(grace_period=200)
    >>> reference = [stack.process(a, b) for a, b in zip(t, values[cpu])]
    >>> bool(np.allclose(results.anomaly_score[on_cpu], [a.anomaly_score for a in reference]))
    True
    >>> int(np.argmax(results.anomaly_score[on_cpu])), bool(results.alert[on_cpu][700])
    (700, True)
    >>> bank.memory_bytes_per_series()  # a season of 1440 minutes takes 20 kB of it
    32000

    A series' state moves to another bank and carries on there:

    >>> state = bank.export_slot(cpu)
    >>> twin = StackBank(grace_period=200)
    >>> copy = twin.import_slot(state)
    >>> a = bank.process(np.array([cpu]), np.array([48000.0]), np.array([51.0]))
    >>> b = twin.process(np.array([copy]), np.array([48000.0]), np.array([51.0]))
    >>> bool(a.combined[0] == b.combined[0]), bool(a.expected[0] == b.expected[0])
    (True, True)
    """

    def __init__(
        self,
        detectors: tuple[str, ...] = ("forecast", "hst", "volatility"),
        window_size: int = 12,
        n_lags: int = 24,
        forgetting_factor: float = 0.999,
        season: float = 86400.0,
        max_season_length: int = 1500,
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
        combination: str = "fisher",
        recalibration_grace: int = 100,
        seed: int | None = 42,
        range_break: bool = True,
        return_is_surprise: bool = True,
    ):
        params = {
            name: value for name, value in locals().items() if name not in ("self", "__class__")
        }
        # The reference checks its parameters (and its parts' parameters) as it does for itself
        DetectorStack(**params)
        if seed is None:
            raise ValueError("StackBank shares one forest between its series: seed must be fixed")
        if n_lags < 1:
            raise ValueError(f"n_lags must be >= 1, got {n_lags}")
        if window_size < 1:
            raise ValueError(f"window_size must be >= 1, got {window_size}")
        for name, value in params.items():
            setattr(self, name, value)
        self.detectors = tuple(detectors)

        # One calibrator per distinct detector, in order, as the reference's dict holds them
        names = tuple(dict.fromkeys(self.detectors))
        # Bit d of BankResults.agreeing is detector_names[d]; the range break's comes last.
        self.detector_names = names + (("range",) if range_break else ())
        self._detector_codes = np.array([DETECTOR_NAMES.index(n) for n in names], dtype=np.int64)
        # Calibrators: the detectors', the recalibrator, the range break's.
        self._graces = np.array(
            [grace_period] * len(names) + [recalibration_grace, grace_period], np.int64
        )
        self._split_features, self._thresholds = _shared_forest(
            seed, n_trees, height, ((0.0, 1.0),) * _N_SHAPE_FEATURES
        )
        exit_level = threshold if exit_threshold is None else exit_threshold
        bin_width = math.log1p(_MAX_SCORE) / _N_BINS
        self._cal_bins = _calibrator_bins(names, range_break, bin_width)
        self._params = kernel.Params(
            n_lags=n_lags,
            window_size=window_size,
            forgetting_factor=float(forgetting_factor),
            ridge=_RIDGE,
            ridge_refill=float((1 - forgetting_factor) * _RIDGE),
            ridge_limit=RIDGE_HEADROOM * _RIDGE,
            band_width=_BAND_WIDTH,
            residual_alpha=_RESIDUAL_ALPHA,
            season=float(season),
            max_season_length=max_season_length,
            seasonal_alpha=_SEASONAL_ALPHA,
            min_cycles=_MIN_CYCLES,
            zscore_min_std=_ZSCORE_MIN_STD,
            height=height,
            hst_window_size=hst_window_size,
            hst_size_limit=0.1 * hst_window_size,
            hst_max_score=float(n_trees * hst_window_size * (2 ** (height + 1) - 1)),
            uses_hst="hst" in names,
            memory=long_window,
            record_gain=float(record_gain),
            bin_width=bin_width,
            cal_starts=tuple(int(start) for start in np.cumsum((0, *self._cal_bins[:-1]))),
            cal_bins=self._cal_bins,
            growth=1.0 / (1.0 - 1.0 / long_window),
            spread_alpha=1.0 / long_window,
            volatility_alpha=2.0 / (volatility_window + 1),
            surprise_cap=SURPRISE_CAP,
            spread_floor=float(spread_floor),
            min_surprise=float(min_surprise),
            score_decades=float(score_decades),
            ln10=math.log(10),
            bonferroni=math.log10(len(names)) / score_decades,
            use_max=combination == "max",
            recalibrate=bool(recalibration_grace),
            grace_period=grace_period,
            refractory=refractory,
            onset_margin=float(onset_margin),
            recent_block_size=onset_maximum(refractory).block_size,
            gap_steps=float(gap_steps),
            threshold=float(threshold),
            exit_threshold=float(exit_level),
            min_duration=min_duration,
            cooldown=cooldown,
            range_break=bool(range_break),
            return_is_surprise=bool(return_is_surprise),
            range_block_size=max(long_window // _RANGE_BLOCKS, 1),
        )
        self._row_shapes = self._state_row_shapes(len(self._cal_bins))
        self._new_rows = self._new_series_rows()
        # The forecaster's system size, as a tuple whose length numba compiles in
        self._size_marker = (0.0,) * (n_lags + 4)
        self._capacity = 0
        self._rows: dict[str, np.ndarray] = {
            name: np.zeros((0, *shape), dtype) for name, (shape, dtype) in self._row_shapes.items()
        }
        self._season_floats = np.zeros(0, dtype=np.float32)
        self._season_counts = np.zeros(0, dtype=np.uint16)
        self._pool_top = np.zeros(2, dtype=np.int64)
        self._free: list[int] = []  # a heap: the lowest free slot is reused first
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None  # process(threads=2)
        self._n_series = 0

    def _state_row_shapes(self, n_calibrators: int) -> dict[str, tuple[tuple, np.dtype]]:
        """Shape and dtype of one slot's row of each per-slot state array."""
        size = self.n_lags + 4  # intercept, lags, and the three season features
        n_inner = 2**self.height - 1
        f8, i8 = np.dtype(np.float64), np.dtype(np.int64)
        return {
            "floats": ((kernel.N_FLOAT_COLUMNS,), f8),
            "ints": ((kernel.N_INT_COLUMNS,), i8),
            "first_times": ((self.n_lags,), f8),
            "lags": ((self.n_lags,), f8),
            "z_window": ((self.window_size,), f8),
            "shape_window": ((max(self.window_size - 1, 1),), f8),
            "recent_blocks": ((onset_maximum(self.refractory).n_blocks,), f8),
            "gram": ((size * (size + 1) // 2,), f8),  # the upper triangle, packed
            "moment": ((size,), f8),
            "weights": ((size,), f8),
            # A window never holds more than hst_window_size points, as in HalfSpaceTrees
            # Left children's masses only, see the kernel's _walk_forest
            "masses": ((2, self.n_trees, n_inner), np.min_scalar_type(self.hst_window_size)),
            "counts": ((sum(self._cal_bins),), np.dtype(np.float32)),  # the histograms end to end
            "cal_total": ((n_calibrators,), f8),
            "cal_weight": ((n_calibrators,), f8),
            "cal_n": ((n_calibrators,), i8),
            "cal_top": ((n_calibrators,), i8),
            "range_bounds": ((2, _RANGE_BLOCKS), f8),
        }

    def _new_series_rows(self) -> dict[str, np.ndarray]:
        """One row of every state array: the state of a new ``DetectorStack``."""
        rows = {name: np.zeros(shape, dtype) for name, (shape, dtype) in self._row_shapes.items()}
        floats = rows["floats"]
        for column in (kernel.F_LAST_TIMESTAMP, kernel.F_SCALE, kernel.F_ABS_RESIDUAL):
            floats[column] = math.nan
        for column in (kernel.F_SPREAD_MEAN, kernel.F_VOLATILITY, kernel.F_SHAPE_LAST):
            floats[column] = math.nan
        floats[kernel.F_PREVIOUS_USUAL] = math.nan
        floats[[kernel.F_SEASON_ANCHOR, kernel.F_HISTORY_ANCHOR]] = math.nan
        floats[kernel.F_SHAPE_LOW : kernel.F_SHAPE_LOW + _N_SHAPE_FEATURES] = math.inf
        floats[kernel.F_SHAPE_HIGH : kernel.F_SHAPE_HIGH + _N_SHAPE_FEATURES] = -math.inf
        rows["ints"][kernel.I_HST_FIRST_WINDOW] = 1
        rows["cal_weight"][:] = 1.0
        rows["cal_top"][:] = -1
        rows["range_bounds"][:] = -math.inf  # negated lows, highs
        rows["recent_blocks"][:] = -math.inf
        return rows

    def _reset(self, slot: int) -> None:
        """Give ``slot`` the state of a new ``DetectorStack``."""
        for name, row in self._new_rows.items():
            self._rows[name][slot] = row

    def parameters(self) -> dict:
        """The keyword arguments of the bank: ``DetectorStack(**bank.parameters())`` is the
        reference of every series.

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
        """A new series' slot, with the state of a new ``DetectorStack``."""
        if self._free:
            slot = heapq.heappop(self._free)
        else:
            slot = self._capacity
            self._grow_rows(max(1, 2 * self._capacity))
            for spare in range(slot + 1, self._capacity):
                heapq.heappush(self._free, spare)
        self._reset(slot)
        self._rows["ints"][slot, kernel.I_ACTIVE] = 1
        self._n_series += 1
        return slot

    def remove_series(self, slot: int) -> None:
        """Forget ``slot``'s series; ``add_series`` may hand the slot out again."""
        self._check_slot(slot)
        self._reset(slot)  # its season segment is reclaimed when the pool next grows
        heapq.heappush(self._free, slot)
        self._n_series -= 1

    def _check_slot(self, slot: int) -> None:
        if not (0 <= slot < self._capacity and self._rows["ints"][slot, kernel.I_ACTIVE]):
            raise ValueError(f"no series in slot {slot}")

    def _grow_rows(self, capacity: int) -> None:
        for name, array in self._rows.items():
            grown = np.zeros((capacity, *array.shape[1:]), array.dtype)
            grown[: self._capacity] = array
            self._rows[name] = grown
        self._capacity = capacity

    def _grow_pool(self, floats_needed: int, counts_needed: int) -> None:
        """Compact the live season segments into bigger pools with room for more."""
        ints = self._rows["ints"]
        live = np.flatnonzero(
            (ints[:, kernel.I_ACTIVE] == 1) & (ints[:, kernel.I_SEASON_LENGTH] > 0)
        )
        lengths = ints[live, kernel.I_SEASON_LENGTH]
        live_floats, live_counts = int(np.sum(3 * lengths + 1)), int(np.sum(lengths))
        floats = np.zeros(max(1024, 2 * (live_floats + floats_needed)), dtype=np.float32)
        counts = np.zeros(max(256, 2 * (live_counts + counts_needed)), dtype=np.uint16)
        floats_top = counts_top = 0
        for slot, length in zip(live.tolist(), lengths.tolist(), strict=True):
            at = ints[slot, kernel.I_FLOAT_OFFSET]
            floats[floats_top : floats_top + 3 * length + 1] = self._season_floats[
                at : at + 3 * length + 1
            ]
            at = ints[slot, kernel.I_COUNT_OFFSET]
            counts[counts_top : counts_top + length] = self._season_counts[at : at + length]
            ints[slot, kernel.I_FLOAT_OFFSET] = floats_top
            ints[slot, kernel.I_COUNT_OFFSET] = counts_top
            floats_top += 3 * length + 1
            counts_top += length
        self._season_floats, self._season_counts = floats, counts
        self._pool_top[:] = floats_top, counts_top

    def _kernel(self, start, slots, timestamps, values, outputs, pool_room) -> int:
        """``kernel.process_points`` from point ``start`` with seasons allocated in
        ``pool_room``; returns how many points are done."""
        state = kernel.State(
            **self._rows,
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
            self._graces,
            self._split_features,
            self._thresholds,
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
            slots.min() < 0
            or slots.max() >= self._capacity
            or not self._rows["ints"][slots, kernel.I_ACTIVE].all()
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
                self._grow_pool(3 * self.max_season_length + 1, self.max_season_length)

    def _run_two(self, parts: list[tuple], outputs: list, done: list[int]) -> list[int]:
        """Both parts at once, the second on the worker thread, each allocating seasons in its
        own share of the pool's free space (sized by its series still without one, so that
        neither stops long before the other); returns how far each got."""
        first_slots, second_slots = (np.unique(part[0]) for part in parts)
        seasonless = [self._count_seasonless(first_slots), self._count_seasonless(second_slots)]
        needed = min(sum(seasonless), _MAX_RESERVED_SEASONS)
        room = self._pool_room()
        length = self.max_season_length
        floats_needed, counts_needed = needed * (3 * length + 1), needed * length
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
        ints = self._rows["ints"]
        return int(np.count_nonzero(ints[slots, kernel.I_HAS_FORECASTER] == 0))

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
            ints = self._rows["ints"][second_slots]
            moved = (ints[:, kernel.I_SEASON_LENGTH] > 0) & (
                ints[:, kernel.I_FLOAT_OFFSET] >= mid_floats
            )
            ints[moved, kernel.I_FLOAT_OFFSET] -= mid_floats - first_floats
            ints[moved, kernel.I_COUNT_OFFSET] -= mid_counts - first_counts
            self._rows["ints"][second_slots] = ints
        rooms[0][:2] = first_floats + used_floats, first_counts + used_counts

    def _worker(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, "lookout-bank")
        return self._executor

    def agreeing_names(self, mask: int) -> tuple[str, ...]:
        """The detectors of a :attr:`BankResults.agreeing` bit mask, in the stack's order."""
        return tuple(name for d, name in enumerate(self.detector_names) if mask >> d & 1)

    def upgrade_slot_state(
        self, state: dict[str, np.ndarray], version: int
    ) -> dict[str, np.ndarray]:
        """A slot state exported in an earlier layout (Lookout's series state format 2, 3 or 4),
        converted for :meth:`import_slot`, one format at a time (:meth:`_upgrade_from_2` and
        its siblings say what changed): the series scores on as it would have, up to what the
        smaller layouts of later formats forget."""
        if version == 2:
            state = self._upgrade_from_2(state)
        if version <= 3:
            state = self._upgrade_from_3(state)
        return self._upgrade_from_4(state)

    def _upgrade_from_4(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A format-4 slot state in format 5: the onset's maximum in blocks
        (:meth:`_onset_blocks_from_ring`), the range's lows kept negated as its highs' twin, and
        the histograms and the season in float32 (:meth:`_histograms_in_float32`,
        :meth:`_season_in_float32`)."""
        state = dict(state)
        ints = np.array(state["ints"])
        state["recent_blocks"] = self._onset_blocks_from_ring(
            np.asarray(state.pop("recent_value")), int(ints[kernel.I_RECENT_COUNT])
        )
        ints[_V4_RECENT_MAX_AT] = 0
        state["ints"] = ints
        bounds = np.array(state["range_bounds"])
        bounds[0] = -bounds[0]
        state["range_bounds"] = bounds
        self._histograms_in_float32(state)
        self._season_in_float32(state, int(ints[kernel.I_SEASON_LENGTH]))
        return state

    def _onset_blocks_from_ring(self, ring: np.ndarray, count: int) -> np.ndarray:
        """Format 4 kept the onset's last scores in a ring (the exact maximum of the last
        ``refractory``), format 5 the maxima of their blocks (:class:`BlockedMax`): each block
        still current gets the maximum of its scores the ring remembers, after ``count``
        scores."""
        window = len(ring)
        blocks = self._new_rows["recent_blocks"].copy()
        block_size = self._params.recent_block_size
        first_block = (count - 1) // block_size - len(blocks) + 1
        for k in range(max(0, count - window, first_block * block_size), count):
            at = k // block_size % len(blocks)
            blocks[at] = max(blocks[at], ring[k % window])
        return blocks

    def _histograms_in_float32(self, state: dict[str, np.ndarray]) -> None:
        """The histograms' counts as float32, in ``state``: a calibrator whose weights grew
        past :data:`~detectors.calibration.RESCALE_AT` is scaled back first."""
        counts = np.array(state["counts"], dtype=np.float64)
        totals, weights = np.array(state["cal_total"]), np.array(state["cal_weight"])
        for which, (start, bins) in enumerate(
            zip(self._params.cal_starts, self._cal_bins, strict=True)
        ):
            if weights[which] > RESCALE_AT:
                scale = 1.0 / weights[which]
                counts[start : start + bins] *= scale
                totals[which] *= scale
                weights[which] = 1.0
        state["counts"] = counts.astype(np.float32)
        state["cal_total"], state["cal_weight"] = totals, weights

    @staticmethod
    def _season_in_float32(state: dict[str, np.ndarray], length: int) -> None:
        """The season's values as float32 offsets from two anchors (the history's and the
        means', :class:`~detectors.compact.Float32Offsets`), in ``state``: here the first
        finite value of each."""
        floats = np.array(state["floats"][: kernel.F_SEASON_ANCHOR])
        season = np.asarray(state["season_floats"], dtype=np.float64)
        anchors = np.full(2, math.nan)
        offsets = np.zeros(len(season), dtype=np.float32)
        if length:
            counts_in_use = np.asarray(state["season_counts"]) > 0
            parts = (  # anchor column, pool slice, values that were stored
                (1, slice(0, length + 1), np.isfinite(season[: length + 1])),
                (0, slice(length + 1, 2 * length + 1), counts_in_use),
            )
            for which, part, stored in parts:
                values = season[part]
                if stored.any():
                    anchors[which] = values[stored][0]
                offsets[part] = [to_float32(v - anchors[which]) for v in values]
            offsets[2 * length + 1 :] = [to_float32(v) for v in season[2 * length + 1 :]]
        state["floats"] = np.concatenate([floats, anchors])
        state["season_floats"] = offsets

    def _upgrade_from_3(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A format-3 slot state in format 4.

        Format 3 kept every calibrator's histogram at 128 bins; the bounded ones now stop at
        their bound's bin (see :func:`_calibrator_bins`), and the bins dropped were empty. The
        two floats of ``return_is_surprise`` came after: they start as for a new series.
        """
        state = dict(state)
        histograms = np.asarray(state["counts"])
        if histograms.shape != (len(self._cal_bins), _N_BINS):
            raise ValueError(f"counts: expected {len(self._cal_bins)} histograms of {_N_BINS} bins")
        for histogram, bins in zip(histograms, self._cal_bins, strict=True):
            if histogram[bins:].any():
                raise ValueError("a bounded calibrator's histogram holds mass beyond its bound")
        state["counts"] = np.concatenate(
            [histogram[:bins] for histogram, bins in zip(histograms, self._cal_bins, strict=True)]
        )
        # The return_is_surprise columns came with format 4: no previous point to return from.
        floats = np.asarray(state["floats"])
        state["floats"] = np.concatenate([floats, self._new_rows["floats"][len(floats) :]])
        return state

    def _upgrade_from_2(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A format-2 slot state in format 3.

        The first layout kept every node's Half-Space-Trees masses, the whole forecaster matrix
        and a monotonic deque for the onset's rolling maximum; format 3 keeps the left
        children's masses, the upper triangle, and a ring of the last scores. The conversion
        keeps every value that can still matter. The range break came after: its range and
        calibrator start empty.
        """
        state = dict(state)
        masses = np.asarray(state["masses"])
        state["masses"] = np.ascontiguousarray(masses[..., 1::2])  # node i's left child: 2i + 1
        gram = np.asarray(state["gram"])
        state["gram"] = gram[np.triu_indices(gram.shape[0])]

        ints = np.asarray(state["ints"])
        index, value = state.pop("recent_index"), np.asarray(state["recent_value"])
        head, length = int(ints[_V2_RECENT_HEAD]), int(ints[_V2_RECENT_LENGTH])
        window = len(value) - 1
        # The deque held every score that could still be a maximum; the others never will be.
        ring = np.full(window, -math.inf)
        for k in range(length):
            at = (head + k) % len(value)
            ring[index[at] % window] = value[at]
        state["recent_value"] = ring
        upgraded = np.zeros(kernel.N_INT_COLUMNS, dtype=np.int64)
        upgraded[: kernel.I_RECENT_COUNT + 1] = ints[: kernel.I_RECENT_COUNT + 1]
        upgraded[_V4_RECENT_MAX_AT] = index[head] if length else 0
        moved = [kernel.I_FIRING, kernel.I_RUN, kernel.I_COOLDOWN_LEFT, kernel.I_SPREAD_N]
        upgraded[moved] = ints[list(_V2_MOVED_INTS)]
        state["ints"] = upgraded

        fresh = self._new_rows
        state["range_bounds"] = np.array([[math.inf] * _RANGE_BLOCKS, [-math.inf] * _RANGE_BLOCKS])
        for name in ("cal_total", "cal_weight", "cal_n", "cal_top"):
            calibrators = np.asarray(state[name])
            state[name] = np.concatenate([calibrators, fresh[name][len(calibrators) :]])
        histograms = np.asarray(state["counts"])
        missing = len(self._cal_bins) - len(histograms)
        state["counts"] = np.concatenate([histograms, np.zeros((missing, _N_BINS))])
        return state

    def sampling_interval(self, slot: int) -> float:
        """The median step between the first points of ``slot``'s series, in seconds (0 until
        ``n_lags`` points were seen)."""
        self._check_slot(slot)
        return float(self._rows["floats"][slot, kernel.F_STEP])

    def sampling_intervals(self, slots: np.ndarray) -> np.ndarray:
        """:meth:`sampling_interval` of many slots at once (live slots only, unchecked)."""
        return self._rows["floats"][np.asarray(slots, dtype=np.int64), kernel.F_STEP]

    def memory_bytes_per_series(self) -> int:
        """Bytes of state per series: one row of every per-slot array, plus the series' mean
        share of the season pool in use."""
        row = sum(
            int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            for shape, dtype in self._row_shapes.values()
        )
        floats, counts = self._pool_top.tolist()
        pool = floats * self._season_floats.itemsize + counts * self._season_counts.itemsize
        return row + round(pool / max(self._n_series, 1))

    def export_slot(self, slot: int) -> dict[str, np.ndarray]:
        """A copy of ``slot``'s state, data only: arrays named after the state arrays, and
        ``season_floats`` / ``season_counts``, the slot's season segments (empty without a
        season). :meth:`import_slot` of a bank with the same parameters restores it."""
        self._check_slot(slot)
        state = {name: array[slot].copy() for name, array in self._rows.items()}
        length = int(state["ints"][kernel.I_SEASON_LENGTH])
        at = int(state["ints"][kernel.I_FLOAT_OFFSET])
        state["season_floats"] = self._season_floats[at : at + 3 * length + 1].copy()
        at = int(state["ints"][kernel.I_COUNT_OFFSET])
        state["season_counts"] = self._season_counts[at : at + length].copy()
        if not length:
            state["season_floats"] = state["season_floats"][:0]
        state["ints"][[kernel.I_FLOAT_OFFSET, kernel.I_COUNT_OFFSET]] = 0
        return state

    def import_slot(self, state: dict[str, np.ndarray]) -> int:
        """A new slot holding the series exported by :meth:`export_slot`."""
        expected = set(self._rows) | {"season_floats", "season_counts"}
        if set(state) != expected:
            raise ValueError(f"a slot state holds exactly {sorted(expected)}")
        for name, (shape, dtype) in self._row_shapes.items():
            array = np.asarray(state[name])
            if array.shape != shape or array.dtype != dtype:
                raise ValueError(
                    f"{name}: expected {dtype} {shape}, got {array.dtype} {array.shape}: "
                    "was the state exported by a bank with other parameters?"
                )
        length = int(state["ints"][kernel.I_SEASON_LENGTH])
        floats = np.asarray(state["season_floats"], dtype=np.float32)
        counts = np.asarray(state["season_counts"], dtype=np.uint16)
        if len(floats) != (3 * length + 1 if length else 0) or len(counts) != length:
            raise ValueError(f"season segments do not fit a season of {length} points")
        slot = self.add_series()
        for name in self._rows:
            self._rows[name][slot] = state[name]
        ints = self._rows["ints"][slot]
        ints[kernel.I_ACTIVE] = 1
        ints[kernel.I_FLOAT_OFFSET] = ints[kernel.I_COUNT_OFFSET] = 0
        if length:
            ints[kernel.I_SEASON_LENGTH] = 0  # no segment yet, for _grow_pool
            top_floats, top_counts = self._pool_top.tolist()
            if top_floats + len(floats) > len(self._season_floats) or top_counts + length > len(
                self._season_counts
            ):
                self._grow_pool(len(floats), length)
                top_floats, top_counts = self._pool_top.tolist()
            self._season_floats[top_floats : top_floats + len(floats)] = floats
            self._season_counts[top_counts : top_counts + length] = counts
            ints[kernel.I_FLOAT_OFFSET], ints[kernel.I_COUNT_OFFSET] = top_floats, top_counts
            ints[kernel.I_SEASON_LENGTH] = length
            self._pool_top[:] = top_floats + len(floats), top_counts + length
        return slot


def _calibrator_bins(names: tuple[str, ...], range_break: bool, bin_width: float) -> tuple:
    """Histogram bins of each calibrator: the detectors', the recalibrator's, the range
    break's. TailProbability's grid has 128, but a raw score with a bound never reaches the
    bins past it: the volatility averages surprises capped at ``SURPRISE_CAP``, the
    recalibrator sees combined scores in [0, 1]. Their histograms stop at the bound's bin, which
    saves 1.8 KiB per series and changes no result."""

    def bins_up_to(bound: float) -> int:
        return math.ceil(math.log1p(bound) / bin_width)

    detectors = [bins_up_to(SURPRISE_CAP) if name == "volatility" else _N_BINS for name in names]
    return (*detectors, bins_up_to(1.0), *((_N_BINS,) if range_break else ()))


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

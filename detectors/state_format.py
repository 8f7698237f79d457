"""The series-state format: its version, its layout, and the chain of upgrades from older ones.

A series' state, as :meth:`~detectors.bank.StackBank.export_slot` gives it and checkpoints keep
it, is a dict of numpy arrays: one per field that a part of the stack declares (named
``"part.field"``, see :mod:`detectors.layout` and :meth:`StackBank.state_layout`), and the
series' season segments ``season_floats`` / ``season_counts``. Its layout is derived from the
parts' declarations, so :data:`VERSION` must go up whenever a declaration changes (a field
added, removed, renamed, or given another dtype or meaning), with one more function in
:data:`UPGRADES`.

Versions:

- 2: the first bank layout (every node's Half-Space-Trees masses, the whole forecaster matrix,
  a deque for the onset's maximum);
- 3: the left children's masses, the upper triangle, a ring of the onset's last scores;
- 4: the bounded calibrators' histograms cut at their bound (and ``return_is_surprise``);
- 5: the onset's maximum in blocks, float32 histograms and season;
- 6: one array per declared field (format 5 numbered the columns of a float and an int matrix
  by hand); the unused column of format 5 and the slot's ``active`` flag are gone;
- 7: the forecaster keeps the inverse of its normal equations (recursive least squares);
- 8: the series' origin and unit (``origin.offset``, ``origin.unit``): the parts see its values
  centred and scaled.
- 9: the alert's incident state (``alert.expected``, ``alert.usual_offset``, ``alert.std``: the
  expectation frozen when the alert opened; ``alert.reason``: why the last one resolved;
  ``alert.settle_until``: no new alert back at a recovered incident's expectation before);
- 10: the incident kinds' runs (``stuck.*``, ``outage.*``, :data:`detectors.kernel.INCIDENTS`);
- 11: the slow incident kinds' fitted lines and usual slopes (``leak.*``, ``fill.*``).
- 12: the season in buckets of time, at most ``max_season_length`` (288) a day: the profile's
  weight per value, the values a bucket needs and where they fall (``seasonal.alpha``,
  ``seasonal.min_count``, ``seasonal.center``); the forecaster's season history as bucket means
  (``forecaster.history_bucket``, ``bucket_total``, ``bucket_count``, for ``history_head``).
- 13: the recalibrator's histogram is no longer cut at 1: it learns the combined evidence up
  to :data:`~detectors.parts.calibration.MAX_DECADES` (``calibration.counts`` has its bins past
  1).
- 14: the forecaster keeps ``P`` (``forecaster.inverse``) in float32 (computed in float64).
- 15: the weekly season (``weekly.*``, :mod:`detectors.parts.weekly`): a correction of the
  daily profile per hour of the week and the two seasons' recent errors.

**Policy.** A state written by any version from :data:`OLDEST_READ` on is read: each upgrade is
a pure function from one version's dict to the next one's, and they run in a chain. An upgrade
is dropped (and :data:`OLDEST_READ` raised) only when the version it reads is more than a year
older than the current one *and* at least two versions old, so that a checkpoint survives any
upgrade within a year; a state older than :data:`OLDEST_READ` is refused with a
:class:`UnreadableStateError` naming its version and the oldest one read (the series then
starts over), never a crash. ``tests/data/series_state_v<N>.json.gz`` holds a state of each
version read, and ``tests/test_state_upgrade.py`` checks it scores on as it did.

Examples
--------
>>> from detectors.bank import StackBank
>>> bank = StackBank()
>>> state = bank.export_slot(bank.add_series())
>>> upgrade(state, VERSION, bank) is state
True
>>> try:
...     upgrade(state, 1, bank)
... except UnreadableStateError as error:
...     print(error)
series state version 1 is not read any more (versions 2 to 15 are)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from detectors.compiled import to_float32
from detectors.parts.calibration import N_BINS, RESCALE_AT, calibrator_names
from detectors.parts.range_break import BLOCKS as RANGE_BLOCKS

__all__ = ["OLDEST_READ", "UPGRADES", "VERSION", "UnreadableStateError", "upgrade"]

VERSION = 15
OLDEST_READ = 2


class UnreadableStateError(ValueError):
    """A series state of a version this Lookout does not read (too old, or newer)."""


def upgrade(state: dict, version: int, bank) -> dict:
    """``state``, written in format ``version``, in the current format, for ``bank`` (whose
    parameters the state was written with) to import."""
    if not OLDEST_READ <= version <= VERSION:
        raise UnreadableStateError(
            f"series state version {version} is not read any more "
            f"(versions {OLDEST_READ} to {VERSION} are)"
            if version < OLDEST_READ
            else f"series state version {version} is newer than this Lookout's ({VERSION})"
        )
    for step in UPGRADES[version - OLDEST_READ :]:
        state = step(state, bank)
    return state


# --- Format 5: two hand-numbered matrices, floats and ints ---------------------------------

#: The columns of format 5's ``floats``, and the fields (and index in the field) they became.
FLOATS_5 = (
    ("sampling.step", None),
    ("sampling.last_timestamp", None),
    ("forecaster.scale", None),
    ("forecaster.abs_residual", None),
    ("zscore.mean", None),
    ("zscore.m2", None),
    ("spread.mean", None),
    ("spread.var", None),
    ("volatility.mean", None),
    ("hst.last", None),
    *(("hst.low", k) for k in range(4)),
    *(("hst.high", k) for k in range(4)),
    ("alert.run_start", None),
    ("alert.last_active", None),
    ("alert.start", None),
    ("alert.peak", None),
    ("alert.peak_at", None),
    ("surprise.previous_usual", None),
    ("surprise.previous_deviation", None),
    ("seasonal.anchor", None),
    ("forecaster.history_anchor", None),
)
#: Format 5's ``ints`` (None: the slot's active flag, and a column unused since format 5).
INTS_5 = (
    None,
    "sampling.n_first",
    "sampling.started",
    "seasonal.length",
    "seasonal.float_offset",
    "seasonal.count_offset",
    "forecaster.n_learned",
    "forecaster.fitted",
    "forecaster.lag_head",
    "forecaster.history_head",
    "zscore.n",
    "zscore.head",
    "hst.n",
    "hst.head",
    "hst.counter",
    "hst.latest",
    "hst.first_window",
    "combination.n_seen",
    "onset.n",
    None,
    "alert.firing",
    "alert.run",
    "alert.cooldown_left",
    "spread.n",
    "range_break.n",
)
#: Format 5's other arrays, and the fields they became.
ARRAYS_5 = {
    "first_times": "sampling.first_times",
    "lags": "forecaster.lags",
    "z_window": "zscore.window",
    "shape_window": "hst.window",
    "recent_blocks": "onset.blocks",
    "gram": "forecaster.gram",
    "moment": "forecaster.moment",
    "weights": "forecaster.weights",
    "masses": "hst.masses",
    "counts": "calibration.counts",
    "cal_total": "calibration.total",
    "cal_weight": "calibration.weight",
    "cal_n": "calibration.n",
    "cal_top": "calibration.top",
    "range_bounds": "range_break.bounds",
    "season_floats": "season_floats",
    "season_counts": "season_counts",
}
# Format 2 to 4's ints: where the onset's ring kept its head and length (2), or the index of
# its maximum (3, 4); format 2 kept the alert's and the spread's four ints after them.
_I_RECENT_COUNT, _I_RECENT_MAX_AT, _I_SEASON_LENGTH = 18, 19, 3
_V2_RECENT_HEAD, _V2_RECENT_LENGTH, _V2_MOVED_INTS = 19, 20, (21, 22, 23, 24)
_FLOATS_3 = 23  # format 3's float columns: up to the alert's; format 4 added two, 5 two more


def _5_to_6(state: dict, bank) -> dict:
    """Format 5's matrices as one array per field (the dtypes of format 6: float64 and int64
    but the season's, the histograms' and the masses', which keep theirs)."""
    floats, ints = np.asarray(state["floats"]), np.asarray(state["ints"])
    if len(floats) != len(FLOATS_5) or len(ints) != len(INTS_5):
        raise ValueError(f"format 5 has {len(FLOATS_5)} floats and {len(INTS_5)} ints")
    fields: dict[str, np.ndarray] = {}
    for (name, index), value in zip(FLOATS_5, floats, strict=True):
        if index is None:
            fields[name] = np.array(value, dtype=np.float64)
        else:
            fields.setdefault(name, np.zeros(4))[index] = value
    for name, value in zip(INTS_5, ints, strict=True):
        if name is not None:
            fields[name] = np.array(value, dtype=np.int64)
    for old, new in ARRAYS_5.items():
        fields[new] = np.asarray(state[old])
    return fields


def _6_to_7(state: dict, bank) -> dict:
    """Format 7's forecaster keeps the inverse ``P`` of its normal equations' matrix ``A`` (and
    ``A``'s diagonal), updated by recursive least squares, where format 6 kept ``A`` and ``b`` and
    solved them at every point: ``P`` is ``A``'s inverse, the weights stay."""
    state = dict(state)
    gram = np.asarray(state.pop("forecaster.gram"), dtype=np.float64)
    state.pop("forecaster.moment")
    size = int(round((math.sqrt(8 * len(gram) + 1) - 1) / 2))
    upper = np.triu_indices(size)
    matrix = np.zeros((size, size))
    matrix[upper] = gram
    matrix = matrix + np.triu(matrix, 1).T
    state["forecaster.inverse"] = np.linalg.inv(matrix)[upper]
    state["forecaster.diagonal"] = np.diag(matrix).copy()
    return state


def _7_to_8(state: dict, bank) -> dict:
    """Format 8 centres and scales a series' values by its origin (:mod:`detectors.parts.origin`):
    a series that has seen values learned them in origin 0 and unit 1, and keeps them; a new one
    learns its own."""
    state = dict(state)
    seen = int(np.asarray(state["spread.n"])) > 0
    state["origin.offset"] = np.array(0.0 if seen else math.nan)
    state["origin.unit"] = np.array(1.0 if seen else math.nan)
    return state


def _8_to_9(state: dict, bank) -> dict:
    """Format 9 keeps the expectation frozen when an alert opened: an alert firing in a format
    8 state freezes the forecaster's expectation at its next point (the fields start unknown,
    as in a new series), and no alert has resolved for a reason yet."""
    state = dict(state)
    for name in ("expected", "usual_offset", "std"):
        state[f"alert.{name}"] = np.array(math.nan)
    state["alert.reason"] = np.array(0, dtype=np.int64)
    state["alert.settle_until"] = np.array(math.nan)
    return state


def _9_to_10(state: dict, bank) -> dict:
    """Format 10 adds the incident kinds' runs (a stuck value, an outage to zero): a series
    starts them as a new one does (its rates of repeats and zeros learn from the next points
    on, from an even prior, so nothing is surprising at once)."""
    state = dict(state)
    for name, value in bank.new_series_state().items():
        if name.startswith(("stuck.", "outage.")):
            state[name] = value
    return state


def _10_to_11(state: dict, bank) -> dict:
    """Format 11 adds the slow incident kinds (a leak, a disk filling up): a series starts
    their lines as a new one does, so their warm-up of a day runs from its next point."""
    state = dict(state)
    for name, value in bank.new_series_state().items():
        if name.startswith(("leak.", "fill.")):
            state[name] = value
    return state


def _seasons_in_time_buckets(state: dict, bank) -> dict:
    """Format 12 keeps the season in buckets of time (:mod:`detectors.parts.seasonal`). A
    season of more points than ``max_season_length`` (a 1-minute series' 1,440) is merged into
    the coarser buckets (their means weighted by their counts, the counts summed); a series
    that had none because its day held too many points (15 seconds) gets an empty one, which
    learns from its next points. The forecaster's last season of points becomes the means of
    the buckets they fell in, their times counted back from the last point by its step."""
    from detectors.layout import allocate
    from detectors.parts import forecaster, sampling, seasonal

    state = dict(state)
    p = bank._params
    step = float(state["sampling.step"])
    old = int(state["seasonal.length"])
    length = sampling.season_length(step, p.sampling) if int(state["sampling.started"]) else 0
    profile = allocate(seasonal.State, seasonal.FIELDS, p.seasonal, 1)
    seasonal.start(profile, 0, length, step, p.seasonal)
    for name in ("alpha", "min_count", "center"):
        state[f"seasonal.{name}"] = np.array(getattr(profile, name)[0])
    state["seasonal.length"] = np.array(length, dtype=np.int64)
    history_head = int(state.pop("forecaster.history_head"))
    state["forecaster.history_bucket"] = np.array(forecaster.NO_BUCKET, dtype=np.int64)
    state["forecaster.bucket_total"] = np.array(0.0)
    state["forecaster.bucket_count"] = np.array(0, dtype=np.int64)
    if not length:
        state["season_floats"] = np.zeros(0, np.float32)
        state["season_counts"] = np.zeros(0, np.uint16)
        return state
    floats = np.asarray(state["season_floats"], dtype=np.float64)
    counts = np.asarray(state["season_counts"], dtype=np.int64)
    new_floats = np.zeros(seasonal.segment_floats(length), np.float32)
    new_counts = np.zeros(length, np.uint16)
    size = forecaster.history_size(length)
    new_floats[:size] = np.nan
    if old:
        _merge_profile(state, floats, counts, old, length, new_floats[size:], new_counts)
        # The forecaster's history: the last min(n_learned, old + 1) points, oldest first, as
        # float32 offsets from its anchor (a bucket of one point keeps its offset as it was)
        anchor = float(state["forecaster.history_anchor"])
        n = min(int(state["forecaster.n_learned"]), old + 1)
        offsets = np.roll(floats[: old + 1], -history_head)[len(floats[: old + 1]) - n :]
        times = float(state["sampling.last_timestamp"]) - step * np.arange(n)[::-1]
        buckets = np.floor(times * length / bank.season).astype(np.int64)
        if n and np.isfinite(offsets).all() and not np.isnan(anchor):
            newest = int(buckets[-1])
            back = newest - buckets
            kept = back < size
            sums = np.bincount(back[kept], anchor + offsets[kept], size)
            numbers = np.bincount(back[kept], minlength=size)
            for k in range(size):
                at = (newest - k) % size
                if numbers[k] == 1:
                    new_floats[at] = offsets[kept][back[kept] == k][0]
                elif numbers[k]:
                    new_floats[at] = sums[k] / numbers[k] - anchor
            state["forecaster.history_bucket"] = np.array(newest, dtype=np.int64)
            state["forecaster.bucket_total"] = np.array(float(sums[0]))
            state["forecaster.bucket_count"] = np.array(int(numbers[0]), dtype=np.int64)
    else:
        state["seasonal.anchor"] = np.array(math.nan)
        state["forecaster.history_anchor"] = np.array(math.nan)
    state["season_floats"] = new_floats
    state["season_counts"] = new_counts
    return state


def _merge_profile(state, floats, counts, old, length, new_floats, new_counts) -> None:
    """The profile of ``old`` buckets (its means, deviations and counts in ``floats`` and
    ``counts`` after the history) in ``length`` buckets: each old bucket in the new one of its
    start, means and deviations weighted by the counts, the counts summed."""
    means = floats[old + 1 : 2 * old + 1]  # offsets from the anchor
    abs_devs = floats[2 * old + 1 :]
    if old == length:
        new_floats[:] = np.concatenate([means, abs_devs])
        new_counts[:] = counts
        return
    target = (np.arange(old) * length) // old
    total = np.bincount(target, counts, length)
    seen = total > 0
    mean = np.bincount(target, counts * means, length)
    abs_dev = np.bincount(target, counts * abs_devs, length)
    mean[seen] /= total[seen]
    abs_dev[seen] /= total[seen]
    new_floats[:length] = mean
    new_floats[length:] = abs_dev
    new_counts[:] = np.minimum(total, np.iinfo(np.uint16).max)


def _recalibrator_unbounded(state: dict, bank) -> dict:
    """Format 13's recalibrator learns the combined evidence unbounded (its strongest
    agreements rank above one another instead of all falling into the bin of 1): its histogram
    gets the bins past 1, empty; what it learned stays in the bins it was in."""
    state = dict(state)
    c = bank._params.calibration
    which = calibrator_names(bank.parameters()).index("recalibration")
    old_bins = _bins_4_to_12(bank)
    start = sum(old_bins[:which])
    counts = np.asarray(state["calibration.counts"])
    if len(counts) != sum(old_bins):
        raise ValueError(f"calibration.counts: expected {sum(old_bins)} bins")
    added = np.zeros(c.bins[which] - old_bins[which], dtype=counts.dtype)
    end = start + old_bins[which]
    state["calibration.counts"] = np.concatenate([counts[:end], added, counts[end:]])
    return state


def _inverse_in_float32(state: dict, bank) -> dict:
    """Format 14 keeps the forecaster's ``P`` in float32 (half its bytes, room for the weekly
    season): the float64 entries rounded to the nearest float32."""
    state = dict(state)
    state["forecaster.inverse"] = np.asarray(state["forecaster.inverse"]).astype(np.float32)
    return state


def _weekly_season(state: dict, bank) -> dict:
    """Format 15 adds the weekly season: a series starts it as a new one does (no hour of the
    week known, no error compared), so it uses the daily profile alone until a week of its
    next points has taught the hours and their errors show the weekly one explains it better."""
    state = dict(state)
    for name, value in bank.new_series_state().items():
        if name.startswith("weekly."):
            state[name] = value
    return state


def _bins_4_to_12(bank) -> tuple[int, ...]:
    """Each calibrator's bins in formats 4 to 12: the recalibrator's stopped at 1."""
    c = bank._params.calibration
    bound = math.ceil(math.log1p(1.0) / c.bin_width)
    names = calibrator_names(bank.parameters())
    return tuple(bound if n == "recalibration" else b for n, b in zip(names, c.bins, strict=True))


# --- Formats 2 to 4, upgraded to format 5 (written at 7dc766e, moved from StackBank) --------


def _4_to_5(state: dict, bank) -> dict:
    """The onset's maximum in blocks (:func:`_onset_blocks_from_ring`), the range's lows kept
    negated as its highs' twin, and the histograms and the season in float32."""
    state = dict(state)
    ints = np.array(state["ints"])
    state["recent_blocks"] = _onset_blocks_from_ring(
        np.asarray(state.pop("recent_value")), int(ints[_I_RECENT_COUNT]), bank
    )
    ints[_I_RECENT_MAX_AT] = 0
    state["ints"] = ints
    bounds = np.array(state["range_bounds"])
    bounds[0] = -bounds[0]
    state["range_bounds"] = bounds
    _histograms_in_float32(state, bank)
    _season_in_float32(state, int(ints[_I_SEASON_LENGTH]))
    return state


def _onset_blocks_from_ring(ring: np.ndarray, count: int, bank) -> np.ndarray:
    """Format 4 kept the onset's last scores in a ring (the exact maximum of the last
    ``refractory``), format 5 the maxima of their blocks: each block still current gets the
    maximum of its scores the ring remembers, after ``count`` scores."""
    window = len(ring)
    c = bank._params.onset
    blocks = np.full(c.n_blocks, -math.inf)
    first_block = (count - 1) // c.block_size - len(blocks) + 1
    for k in range(max(0, count - window, first_block * c.block_size), count):
        at = k // c.block_size % len(blocks)
        blocks[at] = max(blocks[at], ring[k % window])
    return blocks


def _histograms_in_float32(state: dict, bank) -> None:
    """The histograms' counts as float32, in ``state``: a calibrator whose weights grew past
    :data:`~detectors.parts.calibration.RESCALE_AT` is scaled back first."""
    sizes = _bins_4_to_12(bank)
    starts = [sum(sizes[:k]) for k in range(len(sizes))]
    counts = np.array(state["counts"], dtype=np.float64)
    totals, weights = np.array(state["cal_total"]), np.array(state["cal_weight"])
    for which, (start, bins) in enumerate(zip(starts, sizes, strict=True)):
        if weights[which] > RESCALE_AT:
            scale = 1.0 / weights[which]
            counts[start : start + bins] *= scale
            totals[which] *= scale
            weights[which] = 1.0
    state["counts"] = counts.astype(np.float32)
    state["cal_total"], state["cal_weight"] = totals, weights


def _season_in_float32(state: dict, length: int) -> None:
    """The season's values as float32 offsets from two anchors (the history's and the means'),
    in ``state``: here the first finite value of each."""
    floats = np.array(state["floats"][: len(FLOATS_5) - 2])
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


def _3_to_4(state: dict, bank) -> dict:
    """Format 3 kept every calibrator's histogram at 128 bins; the bounded ones now stop at
    their bound's bin, and the bins dropped were empty. The two floats of
    ``return_is_surprise`` came after: they start as for a new series."""
    state = dict(state)
    bins = _bins_4_to_12(bank)
    histograms = np.asarray(state["counts"])
    if histograms.shape != (len(bins), N_BINS):
        raise ValueError(f"counts: expected {len(bins)} histograms of {N_BINS} bins")
    for histogram, size in zip(histograms, bins, strict=True):
        if histogram[size:].any():
            raise ValueError("a bounded calibrator's histogram holds mass beyond its bound")
    state["counts"] = np.concatenate(
        [histogram[:size] for histogram, size in zip(histograms, bins, strict=True)]
    )
    floats = np.asarray(state["floats"])[:_FLOATS_3]
    state["floats"] = np.concatenate([floats, [math.nan, 0.0]])  # previous usual, deviation
    return state


def _2_to_3(state: dict, bank) -> dict:
    """The first layout kept every node's Half-Space-Trees masses, the whole forecaster matrix
    and a monotonic deque for the onset's rolling maximum; format 3 keeps the left children's
    masses, the upper triangle, and a ring of the last scores. The conversion keeps every value
    that can still matter. The range break came after: its range and calibrator start empty.
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
    upgraded = np.zeros(len(INTS_5), dtype=np.int64)
    upgraded[: _I_RECENT_COUNT + 1] = ints[: _I_RECENT_COUNT + 1]
    upgraded[_I_RECENT_MAX_AT] = index[head] if length else 0
    moved = [INTS_5.index(n) for n in ("alert.firing", "alert.run", "alert.cooldown_left")]
    moved.append(INTS_5.index("spread.n"))
    upgraded[moved] = ints[list(_V2_MOVED_INTS)]
    state["ints"] = upgraded

    new = bank.new_series_state()
    state["range_bounds"] = np.array([[math.inf] * RANGE_BLOCKS, [-math.inf] * RANGE_BLOCKS])
    for old in ("cal_total", "cal_weight", "cal_n", "cal_top"):
        calibrators = np.asarray(state[old])
        fresh = new[ARRAYS_5[old]]
        state[old] = np.concatenate([calibrators, fresh[len(calibrators) :]])
    histograms = np.asarray(state["counts"])
    missing = len(bank._params.calibration.bins) - len(histograms)
    state["counts"] = np.concatenate([histograms, np.zeros((missing, N_BINS))])
    return state


#: ``UPGRADES[v - OLDEST_READ]`` turns a format-``v`` state into a format ``v + 1`` one.
UPGRADES: tuple[Callable[[dict, object], dict], ...] = (
    _2_to_3,
    _3_to_4,
    _4_to_5,
    _5_to_6,
    _6_to_7,
    _7_to_8,
    _8_to_9,
    _9_to_10,
    _10_to_11,
    _seasons_in_time_buckets,
    _recalibrator_unbounded,
    _inverse_in_float32,
    _weekly_season,
)
assert len(UPGRADES) == VERSION - OLDEST_READ

"""The detector stack, assembled from its parts (:mod:`detectors.parts`) as one compiled loop.

:data:`PARTS` lists the parts; each brings its per-series state (``st.<part>``, one array per
declared field with one row per series) and its constants (``p.<part>``). :func:`process_points`
runs points through them in the stack's order, scoring each point before any part learns it:

0. **Origin**: the value in the series' own origin and unit (its first value, its first
   change), so that nothing depends on the metric's zero or unit.
1. **Expectation**: the forecaster's expected value and band, the seasonal profile's usual value
   (plus the weekly season's correction of the hour, on a series it explains better).
2. **Surprise**: the forecast residual in residual standard deviations, floored at the spread,
   unless the season explains it.
3. **Detectors**: ``forecast`` (the surprise beyond ``min_surprise``), ``volatility``, ``hst``,
   ``zscore``: raw scores, each calibrated into a tail probability.
4. **Combination**: the detectors' agreement, recalibrated; the range break and the incident
   kinds (:data:`INCIDENTS`: a stuck value, an outage to zero, a leak, a disk filling up) may
   raise it.
5. **Onset and alert**: the score where it sets a new recent high, and the incident state: an
   alert opens at an onset and fires while the value is away from the expectation frozen at
   its opening, see :mod:`detectors.parts.alert`.

The outputs (:data:`Outputs`) carry the combined score of every point as ``anomaly_score``
(continuous: how abnormal the point is now, comparable across series) and the same score at
onsets only, 0 elsewhere, as ``onset_score`` (what opens alerts, and what NAB's scorer rewards).

:class:`~detectors.bank.StackBank` allocates the state and calls the loop.
"""

from __future__ import annotations

import collections
import importlib
import math

import numpy as np

from detectors.compiled import borrowed, decades, jit, kept, py_max, py_min, switch
from detectors.parts import (
    alert,
    calibration,
    combination,
    forecaster,
    hst,
    onset,
    origin,
    range_break,
    sampling,
    seasonal,
    spread,
    surprise,
    weekly,
    zscore,
)


def _parts(*names: str) -> tuple:
    return tuple(importlib.import_module(f"detectors.parts.{name}") for name in names)


#: The detectors the combination can use (``--detectors``), each a module of
#: :mod:`detectors.parts` with ``NAME``, ``BOUND`` (the raw score's bound, or None), its state
#: (``FIELDS``, maybe none) and ``raw(st, slot, point, scratch, p)``: the raw score of the
#: :class:`Point`. A new detector is one module and its name here.
DETECTORS = _parts("zscore", "hst", "forecast", "volatility")
DETECTOR_NAMES = tuple(m.NAME for m in DETECTORS)  # a detector's code is its index
HST = DETECTOR_NAMES.index("hst")  # its raw score is a result column

#: Incident kinds the detectors' agreement may miss, each a module of :mod:`detectors.parts` with
#: ``NAME``, its state and ``incident(st, slot, point, step, p)``: the point's score in decades
#: (it then learns the point). The highest raises the combined score, as the range break does.
#: A new kind is one module and its name here.
INCIDENTS = _parts("stuck", "outage", "leak", "fill")
INCIDENT_NAMES = tuple(m.NAME for m in INCIDENTS)

#: The parts of the stack: their state and constants are ``st.<name>`` and ``p.<name>``.
PARTS = (
    origin,
    sampling,
    forecaster,
    seasonal,
    weekly,
    surprise,
    spread,
    zscore,
    *(m for m in DETECTORS if m.FIELDS and m is not zscore),
    calibration,
    combination,
    range_break,
    *INCIDENTS,
    onset,
    alert,
)


def part_name(module) -> str:
    return module.__name__.rpartition(".")[2]


NO_TRANSITION, OPENED, RESOLVED = alert.NO_TRANSITION, alert.OPENED, alert.RESOLVED
#: What the stack knows about a point when the detectors score it.
#: ``value`` is the point's value in the metric's own units (``x`` is centred).
Point = collections.namedtuple(
    "Point",
    ["t", "x", "surprise", "floor", "deseasonalized", "value"],
    defaults=(math.nan,),
    module=__name__,
)
#: Scratch space of the detectors (the shape features' window).
Scratch = collections.namedtuple("Scratch", ["window", "partials", "v"], module=__name__)

#: Every part's state, then the season pool: float32 ``[history (L + 2) | mean (L) | abs_dev
#: (L)]`` and uint16 counts (L) per series with a season of L buckets, and ``pool_room``:
#: [floats used, counts used, floats usable, counts usable].
State = collections.namedtuple(
    "State",
    [part_name(m) for m in PARTS] + ["season_floats", "season_counts", "pool_room"],
    module=__name__,
)
#: Every part's constants (the detectors' too, with or without state).
_CONSTANT_PARTS = PARTS + tuple(m for m in DETECTORS if m not in PARTS)
Params = collections.namedtuple("Params", [part_name(m) for m in _CONSTANT_PARTS], module=__name__)

#: Per-point results, one array each.
Outputs = collections.namedtuple(
    "Outputs",
    [
        "anomaly_score",
        "onset_score",
        "alert",
        "transition",
        "alert_start",
        "alert_end",
        "peak_score",
        "peak_at",
        "zscore",
        "hst_score",
        "forecast_score",
        "expected",
        "lower",
        "upper",
        "agreeing",
        "resolve_reason",
    ],
    module=__name__,
)


def params_of(parameters: dict) -> Params:
    """Every part's constants from the stack's parameters."""
    parameters = {**parameters, "bounds": {m.NAME: m.BOUND for m in DETECTORS}}
    return Params(*(m.constants(parameters) for m in _CONSTANT_PARTS))


#: The raw score of the point by detector ``code`` of :data:`DETECTORS`, and the score by
#: incident kind ``code`` of :data:`INCIDENTS`: one inlined branch per module.
raw_score = switch(tuple(m.raw for m in DETECTORS), ("st", "slot", "point", "scratch", "p"))
incident_score = switch(tuple(m.incident for m in INCIDENTS), ("st", "slot", "point", "step", "p"))
N_INCIDENTS = len(INCIDENTS)


@jit
def _start_expectations(st, slot, p, length, sorted_steps):
    """The end of warm-up: the step is known, the forecaster starts on the first points (in
    its lags, in order) and the seasonal profile (``length`` > 0 buckets) learns them."""
    history = 0
    if length:
        history = st.pool_room[0]
        counts_at = st.pool_room[1]
        st.pool_room[0] = history + seasonal.segment_floats(length)
        st.pool_room[1] = counts_at + length
        st.season_floats[history : history + seasonal.segment_floats(length)] = 0.0
        st.season_counts[counts_at : counts_at + length] = 0
        st.seasonal.float_offset[slot] = history
        st.seasonal.count_offset[slot] = counts_at
    seasonal.start(st.seasonal, slot, length, st.sampling.step[slot], p.seasonal)
    times = st.sampling.first_times[slot]
    forecaster.start(
        st.forecaster, slot, times, length, history, st.season_floats, p.forecaster, sorted_steps
    )
    if length:
        lags = st.forecaster.lags[slot]
        n = p.forecaster.n_lags
        for k in range(n):
            seasonal.learn(
                st.seasonal, slot, st.season_floats, st.season_counts, times[k], lags[k], p.seasonal
            )


@jit
def process_points(start, slots, timestamps, values, p, detectors, st, out, size_marker):
    """Score then learn points ``start:`` in order; returns how many were done.

    ``size_marker`` is a tuple of ``n_lags + 4`` zeros: its length, the size of the
    forecaster's system, is then a compile-time constant.

    Stops early (returning the index of the first point not processed, with no state touched
    for it) when that point makes its series learn its sampling step and the season pool lacks
    room for the series' season: the caller grows the pool and calls again from there. Seasons
    are allocated from ``st.pool_room[0:2]`` up to ``st.pool_room[2:4]``, so that calls on
    disjoint slots may run at once, each in its own part of the pools.
    """
    # The caller holds the arrays: borrowed, they cost no reference counting in the loop
    st, p, out = borrowed(st), borrowed(p), borrowed(out)
    slots, timestamps, values, detectors = borrowed((slots, timestamps, values, detectors))
    n_points = len(slots)
    n_detectors = len(detectors)
    recalibrator = n_detectors  # the calibrator after the detectors'
    range_calibrator = n_detectors + 1
    size = len(size_marker)
    owned = (  # scratch space, borrowed in the loop and kept alive to the returns
        np.zeros(size),
        np.zeros(2 * size),
        np.zeros(p.zscore.window_size + 1),
        np.zeros(p.zscore.window_size + 2),
        np.zeros(4),
        np.zeros(max(p.sampling.n_lags, 1)),
        np.zeros(n_detectors),
    )
    features, work, window, partials, v, sorted_steps, raws = borrowed(owned)
    scratch = Scratch(window, partials, v)
    floats, counts = st.season_floats, st.season_counts
    threshold = p.alert.threshold
    for i in range(start, n_points):
        slot = slots[i]
        t = timestamps[i]
        x = origin.center(st.origin, slot, values[i])  # every part below sees it centred
        length = sampling.season_at_start(st.sampling, slot, t, p.sampling, sorted_steps)
        if length and (
            st.pool_room[0] + seasonal.segment_floats(length) > st.pool_room[2]
            or st.pool_room[1] + length > st.pool_room[3]
        ):
            return kept(owned, i)

        if sampling.is_gap(st.sampling, slot, t, p.sampling):
            forecaster.restart(st.forecaster, slot)
            hst.restart(st.hst, slot)
            zscore.restart(st.zscore, slot)
            surprise.restart(st.surprise, slot)

        # Expectation
        started = st.sampling.started[slot] != 0
        length = st.seasonal.length[slot]
        history = st.seasonal.float_offset[slot]
        has_features = started and forecaster.features_of(
            st.forecaster, slot, features, t, length, history, floats, p.forecaster
        )
        ready = has_features and st.forecaster.fitted[slot] >= p.forecaster.n_lags
        expected = lower = upper = residual_std = math.nan
        if started:
            residual_std = forecaster.residual_std(st.forecaster, slot)
            if ready:
                expected = forecaster.predict(st.forecaster, slot, features, length, p.forecaster)
            half_width = p.forecaster.band_width * residual_std
            lower = expected - half_width
            upper = expected + half_width
        spread_variance = spread.variance(st.spread, slot)
        floor = spread.floor(st.spread, slot, p.spread)

        # The usual value at this time: the daily profile's, plus the weekly season's
        # correction of this hour where it explains the series better (see parts.weekly).
        daily_usual = shift = math.nan
        if length:
            daily_usual = seasonal.predict(st.seasonal, slot, floats, counts, t, p.seasonal)
            shift = weekly.correction(st.weekly, slot, t, p.weekly)
        usual_now = daily_usual if shift == 0.0 else daily_usual + shift

        # Surprise
        surprised = 0.0
        if ready and not math.isnan(expected):
            std = py_max(residual_std, floor)
            surprised = abs(x - expected) / std
            if length:
                # The daily profile scores the value less its hour's weekly correction; a hour
                # on the weekend's edge may be explained by its neighbour's, as a bucket is.
                # Its buckets' deviations are narrowed as much as its errors are narrower.
                shifted = x if shift == 0.0 else x - shift
                narrow = 1.0 if shift == 0.0 else weekly.spread(st.weekly, slot, p.weekly)
                best, own = seasonal.scores(
                    st.seasonal, slot, floats, counts, t, shifted, std, p.seasonal, narrow
                )
                if shift != 0.0:
                    hour = math.floor(t / weekly.HOUR)
                    for side in (-1, 1):
                        near = weekly.known(st.weekly, slot, hour + side)
                        score = seasonal.scores(
                            st.seasonal, slot, floats, counts, t, x - near, std, p.seasonal, narrow
                        )[0]
                        if score < best:
                            best = score
                surprised = surprise.excused(
                    st.surprise, slot, surprised, best, own, usual_now, x, p.surprise
                )
        z = zscore.score(st.zscore, slot, x, p.zscore)

        # The value less its usual level, once known: a nightly job is then not isolated. A
        # series that never varied has no daily shape to remove (a constant gauge would move
        # to 0 on the day its profile is known, and page).
        deseasonalized = x
        if length and spread_variance != 0.0 and not math.isnan(usual_now):
            deseasonalized = x - usual_now
        point = Point(t, x, surprised, floor, deseasonalized, values[i])

        # Detectors, calibration, agreement, recalibration
        step = st.sampling.step[slot]
        # Half-Space-Trees score 0 while their first window fills: a calibration whose
        # warm-up is shorter (a series sampled slower than every 5 minutes, see
        # sampling.warm_up_points) would hold only zeros when they start, and read their first
        # real scores as records. It does not learn them.
        hst_filling = st.hst.first_window[slot] != 0 and (
            sampling.warm_up_points(p.calibration.graces[0], step, p.calibration.warm_up_time)
            < p.hst.hst_window_size
        )
        best = 0.0
        total = 0.0
        agreeing = 0
        raw_hst = math.nan
        for d in range(n_detectors):
            code = detectors[d]
            raw = raw_score(code, st, slot, point, scratch, p)
            if code == HST:
                raw_hst = raw
            raws[d] = raw
            score = decades(
                calibration.tail(st.calibration, slot, d, raw, step, p.calibration),
                p.combination.score_decades,
            )
            if score >= threshold:
                agreeing |= 1 << d  # bit d: the bank's d-th detector
            best = score if d == 0 else py_max(best, score)
            total += score
        evidence = combination.combine(best, total, n_detectors, p.combination)
        combined = py_min(evidence, 1.0)
        if combination.needs_recalibration(st.combination, slot, step, p.combination):
            unusual = decades(
                calibration.tail(st.calibration, slot, recalibrator, evidence, step, p.calibration),
                p.combination.score_decades,
            )
            calibration.learn(st.calibration, slot, recalibrator, evidence, step, p.calibration)
            combined = py_min(combined, unusual)
        if p.range_break.enabled:
            raw = range_break.raw_score(st.range_break, slot, x, step, p.range_break)
            range_score = decades(
                calibration.tail(st.calibration, slot, range_calibrator, raw, step, p.calibration),
                p.combination.score_decades,
            )
            calibration.learn(st.calibration, slot, range_calibrator, raw, step, p.calibration)
            if range_score >= threshold:
                agreeing |= 1 << n_detectors  # the bit after the detectors'
            combined = py_max(combined, range_score)
        bit = 1 << (n_detectors + (1 if p.range_break.enabled else 0))  # after the range's
        for kind in range(N_INCIDENTS):
            kind_score = incident_score(kind, st, slot, point, step, p)
            if kind_score >= threshold:
                agreeing |= bit
            combined = py_max(combined, kind_score)
            bit <<= 1
        combined = combination.per_time(combined, step, p.combination)

        # Onset and alert: quiet, only an onset may open an alert; firing, the distance from
        # the expectation frozen at its opening keeps it open (see parts.alert).
        onset_score = combined if onset.is_onset(st.onset, slot, combined, p.onset) else 0.0
        firing = st.alert.firing[slot] != 0
        # The scale of "back near the expectation": the forecaster's band; without a season
        # the frozen expectation is one value, so at least the values' own spread (a cycle the
        # forecaster follows is not an incident that goes on).
        alert_std = py_max(residual_std, floor)
        if math.isnan(usual_now):
            level_std = zscore.std(st.zscore, slot)
            if not math.isnan(level_std):
                alert_std = py_max(alert_std, level_std)
        transition = alert.update(
            st.alert,
            slot,
            combined if firing else onset_score,
            t,
            x,
            expected,
            alert_std,
            usual_now,
            step,
            p.alert,
        )
        # While it fires, its expectation is the one frozen when it opened (shown in the
        # outputs). With freeze_while_firing the models do not learn the incident either: the
        # forecaster keeps its weights and band (its lags follow the values, so that it predicts
        # from the real recent points once the alert resolves) and the profile does not learn.
        incident = st.alert.firing[slot] != 0
        frozen = incident and p.alert.freeze_while_firing
        shown, shown_lower, shown_upper = expected, lower, upper  # the outputs
        if incident:
            shown = alert.expectation(st.alert, slot, usual_now)
            half_width = p.forecaster.band_width * st.alert.std[slot]
            shown_lower = shown - half_width
            shown_upper = shown + half_width

        # Learn
        onset.learn(st.onset, slot, combined, step, p.onset)
        for d in range(n_detectors):
            if detectors[d] != HST or not hst_filling:
                calibration.learn(st.calibration, slot, d, raws[d], step, p.calibration)
        zscore.learn(st.zscore, slot, x, p.zscore)
        spread.learn(st.spread, slot, x, p.spread)
        if started and frozen:
            forecaster.remember(st.forecaster, slot, x, t, length, history, floats, p.forecaster)
        elif started:
            forecaster.learn(
                st.forecaster,
                slot,
                x,
                t,
                expected,
                ready,
                features,
                size,
                work,
                length,
                history,
                floats,
                p.forecaster,
            )
            if length:
                weekly.learn(st.weekly, slot, t, x, daily_usual, step, p.weekly)
                seasonal.learn(st.seasonal, slot, floats, counts, t, x, p.seasonal)
        else:
            # Warm-up: keep the point; the values go straight into the lags ring, in order.
            st.forecaster.lags[slot, st.sampling.n_first[slot]] = x
            if sampling.keep_first(st.sampling, slot, t, p.sampling):
                season = sampling.learn_step(st.sampling, slot, p.sampling, sorted_steps)
                _start_expectations(st, slot, p, season, sorted_steps)

        out.anomaly_score[i] = combined
        out.onset_score[i] = onset_score
        out.alert[i] = st.alert.firing[slot] != 0
        out.transition[i] = transition
        out.resolve_reason[i] = st.alert.reason[slot] if transition == RESOLVED else 0
        if transition != NO_TRANSITION:
            out.alert_start[i] = st.alert.start[slot]
            out.alert_end[i] = st.alert.last_active[slot] if transition == RESOLVED else math.nan
            out.peak_score[i] = st.alert.peak[slot]
            out.peak_at[i] = st.alert.peak_at[slot]
        else:
            out.alert_start[i] = math.nan
            out.alert_end[i] = math.nan
            out.peak_score[i] = math.nan
            out.peak_at[i] = math.nan
        out.zscore[i] = z
        out.hst_score[i] = raw_hst
        out.forecast_score[i] = surprised
        out.expected[i] = origin.uncenter(st.origin, slot, shown)
        out.lower[i] = origin.uncenter(st.origin, slot, shown_lower)
        out.upper[i] = origin.uncenter(st.origin, slot, shown_upper)
        out.agreeing[i] = agreeing
    return kept(owned, n_points)

"""The reference detector stack: the compiled stack (:mod:`detectors.kernel`) written as
readable parts, point by point; the tests' oracle for the whole stack and for each part."""

from __future__ import annotations

import dataclasses
import inspect
import math

from detectors.parts import fill, leak, trend
from detectors.stack import Assessment
from tests.reference.alerting import HysteresisAlert
from tests.reference.calibration import TailProbability
from tests.reference.forecaster import LagForecaster
from tests.reference.incidents import OutageToZero, SteadyClimb, StuckValue
from tests.reference.isolation import HalfSpaceTreesDetector
from tests.reference.rolling import BlockedMax, BlockedRange, EWMean, EWVar
from tests.reference.seasonal import SeasonalProfile, WeeklyCorrection
from tests.reference.zscore import ZScore

__all__ = ["Assessment", "DetectorStack", "DETECTOR_NAMES", "COMBINATIONS"]

DETECTOR_NAMES = ("zscore", "hst", "forecast", "volatility")
COMBINATIONS = ("fisher", "max")
#: The volatility detector averages surprises capped at this many standard deviations: one wild
#: point must not read as a burst for the next ``volatility_window`` points.
SURPRISE_CAP = 10.0
#: Blocks of the onset rule's rolling maximum (see BlockedMax): 200 scores in 10 floats.
ONSET_BLOCKS = 10


def onset_maximum(refractory: int) -> BlockedMax:
    """The onset rule's rolling maximum of about the last ``refractory`` combined scores (in
    at most :data:`ONSET_BLOCKS` blocks); ``StackBank`` reads its geometry from here too."""
    window = max(refractory, 1)
    return BlockedMax(window, n_blocks=min(ONSET_BLOCKS, window))


class DetectorStack:
    """The per-series detector stack: expectations, surprises, one calibrated score, alerts.

    For every point, before any model learns it:

    1. **Expectation.** A lag forecaster (with the values one season ago as extra features)
       gives the expected value and band; a seasonal profile gives the usual value at this
       time of day.
    2. **Surprise.** The forecast residual in residual standard deviations, floored at
       ``spread_floor`` times the series' overall spread (a deviation must matter for the metric,
       not only for a near-zero noise level). A point the seasonal profile explains is not
       surprising, whatever the lags say, unless (``return_is_surprise``) it is a sudden return
       to the usual level right after a point the season did not explain: a leaking process
       restarted, a bad deploy rolled back.
    3. **Detectors.** ``forecast``: the surprise beyond ``min_surprise``; ``volatility``: the
       surprise averaged over ``volatility_window`` points (bursts, changing spike density);
       ``hst``: Half-Space-Trees isolation of the point's shape (value, diff, rolling mean and
       std); ``zscore``: the rolling z-score beyond ``min_surprise`` (off by default: on the NAB
       sample it adds false positives, see the README's ablation).
    4. **Calibration.** Each raw score becomes a tail probability under its own history on this
       series (:class:`~tests.reference.calibration.TailProbability`), so one threshold fits CPU
       percentages and byte counts alike.
    5. **Agreement.** The detectors' tail probabilities are combined with Fisher's method
       (``combination="fisher"``): two detectors that are both somewhat surprised outweigh one
       that is very surprised alone. ``"max"`` takes the most surprised detector instead
       (Bonferroni-corrected).
    6. **Recalibration.** The detectors see the same point, so their agreement is not
       independent evidence: a metric with a routine spike every few hours makes all of them
       agree every few hours. The combined evidence is therefore calibrated once more against
       its own history on this series (after ``recalibration_grace`` more points), and the score
       is the smaller of the two, in decades of probability over ``score_decades`` (0.5: one in
       1,000).
    6b. **Range break** (``range_break``). A value beyond the range of about the last
       ``long_window`` values (by how far, in units of that range) is calibrated as the detectors
       are, and its score replaces the combined one when higher. It is not one more term of the
       agreement: it is 0 almost always, and a new extreme is evidence on its own (NAB's HTM
       detector has the same "spatial anomaly" rule).
    7. **Onset.** ``anomaly_score`` is the combined score of every point (continuous);
       ``onset_score`` is the combined score where it sets a new high over about the
       last ``refractory`` points (:class:`BlockedMax`: the last 181 to 200 of
       200) by more than ``onset_margin`` (0.02: 0.12 decades, about 1.3 times less probable),
       else 0: an incident is reported when it starts, not at every point, and noise that only
       edges past its own recent high (a new record on a noisy series is barely rarer than the
       last one) is not a new incident.
    8. **Alert.** An alert opens at an onset scoring at least ``threshold`` and stays open while
       the combined score is at least ``exit_threshold``; it re-opens only at a new onset, i.e.
       on something more surprising than anything in about the last ``refractory`` points (the
       hysteresis), and not within ``cooldown`` points of resolving.

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
    spread_floor, min_surprise, volatility_window, score_decades, refractory, onset_margin
        See above.
    gap_steps
        A silence longer than this many sampling intervals is a gap: the lag-based models
        restart their windows, so the first point after it is not mistaken for a jump.
    threshold, exit_threshold, min_duration, cooldown, resolve_threshold, quiet_time, accept_after
        The alert policy and incident state (see
        :class:`~tests.reference.alerting.HysteresisAlert`).
    freeze_while_firing
        Whether the forecaster and the seasonal profile stop learning while an alert fires.
    seed
        Seed of the Half-Space-Trees.

    Examples
    --------
    >>> import math, random
    >>> rng = random.Random(7)
    >>> stack = DetectorStack(grace_period=200)
    >>> values = [50 + 10 * math.sin(i / 20) + rng.gauss(0, 1) for i in range(800)]
    >>> values[700] = 120  # a spike
    >>> assessed = [stack.process(60.0 * t, v) for t, v in enumerate(values)]
    >>> max(a.anomaly_score for a in assessed[300:700]) < assessed[700].anomaly_score
    True
    >>> assessed[700].alert, round(assessed[700].expected)
    (True, 45)
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
        resolve_threshold: float = 3.0,
        quiet_time: float = 300.0,
        accept_after: float = 6 * 3600.0,
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
        unknown = set(detectors) - set(DETECTOR_NAMES)
        if unknown or not detectors:
            raise ValueError(f"detectors must be a non-empty subset of {DETECTOR_NAMES}")
        if combination not in COMBINATIONS:
            raise ValueError(f"combination must be one of {COMBINATIONS}, got {combination!r}")
        self.detectors = tuple(detectors)
        self.window_size = window_size
        self.n_lags = n_lags
        self.forgetting_factor = forgetting_factor
        self.season = season
        self.max_season_length = max_season_length
        self.n_trees = n_trees
        self.height = height
        self.hst_window_size = hst_window_size
        self.long_window = long_window
        self.grace_period = grace_period
        self.record_gain = record_gain
        self.spread_floor = spread_floor
        self.min_surprise = min_surprise
        self.volatility_window = volatility_window
        self.score_decades = score_decades
        self.refractory = refractory
        self.onset_margin = onset_margin
        self.gap_steps = gap_steps
        self.threshold = threshold
        self.exit_threshold = exit_threshold
        self.min_duration = min_duration
        self.cooldown = cooldown
        self.resolve_threshold = resolve_threshold
        self.quiet_time = quiet_time
        self.accept_after = accept_after
        self.freeze_while_firing = freeze_while_firing
        self.combination = combination
        self.recalibration_grace = recalibration_grace
        self.seed = seed
        self.range_break = range_break
        self.return_is_surprise = return_is_surprise
        self.weekly_season = weekly_season
        # The correction per hour of the week, used where it explains the series better
        self._weekly = WeeklyCorrection() if weekly_season else None
        self.paging_interval = paging_interval
        self.warm_up_time = warm_up_time
        self.memory_time = memory_time
        self.refractory_time = refractory_time

        self._zscore = ZScore(window_size=window_size)
        self._hst = HalfSpaceTreesDetector(
            feature_window_size=window_size,
            n_trees=n_trees,
            height=height,
            window_size=hst_window_size,
            seed=seed,
        )
        # The forecaster and the seasonal profile are built once the sampling interval is known,
        # which sets the season length in points.
        self._forecaster: LagForecaster | None = None
        self._seasonal: SeasonalProfile | None = None
        self._first_points: list[tuple[float, float]] = []
        self._step = 0.0  # median sampling interval, known after the first n_lags points
        self._last_timestamp = math.nan
        self._spread = EWVar(alpha=1.0 / long_window, warm_up=True)
        self._volatility = EWMean(alpha=2.0 / (volatility_window + 1))
        self._calibrators = {
            name: TailProbability(long_window, grace_period, record_gain=record_gain)
            for name in self.detectors
        }
        self._recalibrator = (
            TailProbability(long_window, recalibration_grace, record_gain=record_gain)
            if recalibration_grace
            else None
        )
        self._range = BlockedRange(long_window)
        self._range_calibrator = TailProbability(long_window, grace_period, record_gain=record_gain)
        # The series' origin and unit: its first value and its first change's size.
        self._offset = math.nan
        self._unit = math.nan
        self._n_seen = 0
        # The previous point's usual value and, if the season did not explain that point, how
        # far it was from it (else 0): what a return to the usual level undoes.
        self._previous_usual = math.nan
        self._previous_deviation = 0.0
        self._recent = onset_maximum(refractory)
        # Incident kinds the agreement may miss, in the order of detectors.kernel.INCIDENTS
        self._incidents = {
            "stuck": StuckValue(long_window, score_decades),
            "outage": OutageToZero(long_window, score_decades),
        }
        # The slow kinds (a leak, a disk filling up): their windows and memories are in time
        self._climbs = {
            kind.NAME: SteadyClimb(
                kind.WINDOW,
                kind.MEMORY,
                kind.WARM_UP,
                score_decades,
                trend.MARGIN,
                trend.CLIP,
                trend.MIN_FIT_STEPS,
            )
            for kind in (leak, fill)
        }
        self._policy = HysteresisAlert(
            threshold,
            exit_threshold,
            min_duration,
            cooldown,
            resolve_threshold,
            quiet_time,
            accept_after,
        )

    def process(self, timestamp: float, value: float) -> Assessment:
        """Score ``value`` at ``timestamp`` (epoch seconds), then learn it."""
        assessed = self._process(timestamp, self._centered(value), value)
        return dataclasses.replace(
            assessed,
            value=value,
            expected=self._uncentered(assessed.expected),
            lower=self._uncentered(assessed.lower),
            upper=self._uncentered(assessed.upper),
        )

    def _centered(self, value: float) -> float:
        """``value`` in the series' own origin and unit (learnt from the first values)."""
        if not math.isfinite(value):
            return value
        if math.isnan(self._offset):
            self._offset = value
            return 0.0
        if math.isnan(self._unit):
            if value == self._offset:
                return 0.0
            self._unit = abs(value - self._offset)
        return (value - self._offset) / self._unit

    def _uncentered(self, centered: float) -> float:
        offset = 0.0 if math.isnan(self._offset) else self._offset
        return offset + centered * (1.0 if math.isnan(self._unit) else self._unit)

    def _process(self, timestamp: float, value: float, original: float) -> Assessment:
        if self._step > 0 and timestamp - self._last_timestamp > self.gap_steps * self._step:
            self._restart_after_gap()
        self._last_timestamp = timestamp
        forecaster = self._forecaster
        if forecaster is not None:
            expected = forecaster.predict_one(timestamp)
            lower, upper = forecaster.band(timestamp)
        else:
            expected = lower = upper = math.nan
        floor = self.spread_floor * math.sqrt(max(self._spread.get(), 0.0))
        surprise = self._surprise(timestamp, value, expected, floor)
        self._volatility.update(min(surprise, SURPRISE_CAP))
        zscore = self._zscore.zscore(value)

        # Half-Space-Trees score 0 until their first window is full: a calibration whose warm-up
        # is shorter (a slow series) does not learn those zeros
        hst_filling = (
            self._hst._trees._first_window
            and self._warm_up(self.grace_period) < self.hst_window_size
        )
        raw = {
            "forecast": max(0.0, surprise - self.min_surprise),
            "volatility": self._volatility.get(),
            "hst": _isolation_ratio(
                self._hst.score_then_learn(self._deseasonalized(timestamp, value))
            )
            if "hst" in self._calibrators
            else math.nan,
            "zscore": max(0.0, self._floored_zscore(value, floor) - self.min_surprise),
        }
        scores = {
            name: self._decades(calibrator.score_one(raw[name]))
            for name, calibrator in self._calibrators.items()
        }
        combined = self._recalibrated(self._combine(scores))  # the evidence, unbounded
        if self.range_break:
            scores["range"] = self._range_score(value)
            combined = max(combined, scores["range"])
        for name, incident in self._incidents.items():
            scores[name] = incident.score_then_learn(original)  # the metric's own units
            combined = max(combined, scores[name])
        for name, climb in self._climbs.items():
            scores[name] = climb.score_then_learn(timestamp, value, self._step)  # centred
            combined = max(combined, scores[name])
        if 0 < self._step < self.paging_interval:
            # A tail probability per paging_interval of time, not per point
            shift = math.log10(self.paging_interval / self._step) / self.score_decades
            combined = max(0.0, combined - shift)
        is_onset = not (
            self.refractory and self._recent.n and combined <= self._recent.max + self.onset_margin
        )
        onset_score = combined if is_onset else 0.0
        # Quiet, only an onset may open an alert; firing, the distance from the expectation
        # frozen at its opening keeps it open.
        usual = self._usual(timestamp)
        std = max(forecaster.residual_std, floor) if forecaster is not None else math.nan
        if math.isnan(usual):  # one frozen value: at least the values' own spread
            std = max(std, self._zscore.std)
        transition = self._policy.update(
            combined if self._policy.firing else onset_score,
            timestamp,
            value,
            expected,
            std,
            usual,
            self._step,
        )
        incident = self._policy.firing
        if incident:  # the expectation frozen when the alert opened
            expected = self._policy.expectation(usual)
            half_width = forecaster.band_width * self._policy.std
            lower, upper = expected - half_width, expected + half_width
        agreeing = tuple(name for name, score in scores.items() if score >= self.threshold)

        self._recent.update(combined)
        for name, calibrator in self._calibrators.items():
            if name != "hst" or not hst_filling:
                calibrator.learn_one(raw[name])
        self._zscore.learn_one(value)
        self._spread.update(value)
        self._learn_expectations(timestamp, value, incident and self.freeze_while_firing)

        return Assessment(
            timestamp=timestamp,
            value=value,
            anomaly_score=combined,
            onset_score=onset_score,
            alert=self._policy.firing,
            zscore=zscore,
            hst_score=raw["hst"],
            forecast_score=surprise,
            expected=expected,
            lower=lower,
            upper=upper,
            agreeing=agreeing,
            transition=transition,
        )

    def _surprise(self, timestamp: float, value: float, expected: float, floor: float) -> float:
        """Forecast residual in (floored) residual standard deviations, unless the season
        explains the value; 0 while the forecaster warms up."""
        forecaster = self._forecaster
        if forecaster is None or not forecaster.ready or math.isnan(expected):
            return 0.0
        std = max(forecaster.residual_std, floor)
        surprise = abs(value - expected) / std
        if self._seasonal is not None:
            shift = self._shift(timestamp)
            shifted = value - shift if shift else value
            narrow = self._weekly.spread() if shift else 1.0
            seasonal = self._seasonal.score_one(timestamp, shifted, min_std=std, spread=narrow)
            if shift:  # an hour on the weekend's edge may be explained by its neighbour's
                hour = math.floor(timestamp / 3600.0)
                for side in (-1, 1):
                    near = self._seasonal.score_one(
                        timestamp,
                        value - self._weekly.known(hour + side),
                        min_std=std,
                        spread=narrow,
                    )
                    if near < seasonal:
                        seasonal = near
            # A slow excursion (a memory leak's ramp) fools the lags and the season alike: the
            # lags follow it and the season's previous bucket has just learned it. Its end, a
            # jump back to the usual level, is a change the lags did not expect, and the season
            # must not excuse it. "Unusual" is judged in the point's own bucket only (learned a
            # period ago), which a lasting deviation has not taught yet. And it is a return only
            # if the usual level itself moved less than the deviation undone: a nightly job
            # starting on a quiet Saturday is the season's own step, not a return.
            returning = False
            if self.return_is_surprise:
                usual = self._usual(timestamp)
                own = self._seasonal.score_one(
                    timestamp, shifted, min_std=std, neighbours=False, spread=narrow
                )
                unusual = own > self.min_surprise  # False while the bucket is unknown (NaN)
                returning = not unusual and (
                    abs(usual - self._previous_usual) < abs(self._previous_deviation)
                )
                self._previous_usual = usual
                self._previous_deviation = value - usual if unusual else 0.0
            if not math.isnan(seasonal) and not returning:
                surprise = min(surprise, seasonal)
        return surprise

    def _range_score(self, value: float) -> float:
        """How far ``value`` lies out of the recent range, in units of that range (0 inside it,
        or while the range is a single value), calibrated; then the range learns ``value``."""
        bounds = self._range
        raw = 0.0
        if bounds.n and bounds.high > bounds.low:
            raw = max(0.0, value - bounds.high, bounds.low - value) / (bounds.high - bounds.low)
        bounds.update(value)
        score = self._decades(self._range_calibrator.score_one(raw))
        self._range_calibrator.learn_one(raw)
        return score

    def _deseasonalized(self, timestamp: float, value: float) -> float:
        """``value`` minus its usual level at this time of day (once known): a job that runs
        every night at 03:10 is then not an isolated point for the Half-Space-Trees.

        A series that never varied has no daily shape to remove: subtracting its usual level
        would move the trees' input from the value to 0 on the day the profile is known, and
        page on every constant gauge (``up``, a replica count) two days after it appears."""
        if self._seasonal is None or self._spread.get() == 0.0:
            return value
        usual = self._usual(timestamp)
        return value if math.isnan(usual) else value - usual

    def _shift(self, timestamp: float) -> float:
        """The weekly correction of the daily usual value at ``timestamp`` (0: none)."""
        return 0.0 if self._weekly is None else self._weekly.correction(timestamp)

    def _usual(self, timestamp: float) -> float:
        """The usual value: the daily profile's, plus the weekly correction where chosen."""
        if self._seasonal is None:
            return math.nan
        usual, shift = self._seasonal.predict_one(timestamp), self._shift(timestamp)
        return usual + shift if shift else usual

    def _floored_zscore(self, value: float, floor: float) -> float:
        if self._zscore.std == 0.0 and floor == 0.0 or math.isnan(self._zscore.mean):
            return 0.0
        std = max(self._zscore.std, floor)
        return abs(value - self._zscore.mean) / std if std > 0 else 0.0

    def _restart_after_gap(self) -> None:
        """After a silence the last values are not the previous points: lag-based models start
        their windows again instead of reading the jump across the gap as a spike. Learned
        weights, the seasonal profile and the calibration stay."""
        self._forecaster.restart()
        self._hst._features.restart()
        self._zscore.restart()
        self._previous_deviation = 0.0

    def _learn_expectations(self, timestamp: float, value: float, frozen: bool) -> None:
        if self._forecaster is not None:
            if frozen:  # the lags follow the values; the weights, band and season stay
                self._forecaster.remember_one(value, timestamp)
                return
            self._forecaster.learn_one(value, timestamp)
            if self._seasonal is not None:
                if self._weekly is not None:
                    usual = self._seasonal.predict_one(timestamp)
                    self._weekly.learn(timestamp, value, usual, self._step)
                self._seasonal.learn_one(timestamp, value)
            return
        self._first_points.append((timestamp, value))
        if len(self._first_points) < self.n_lags:
            return
        self._step = self._median_step([t for t, _ in self._first_points])
        # The calibrations' warm-up, cut to warm_up_time of the series' time
        for calibrator in (*self._calibrators.values(), self._range_calibrator):
            calibrator.grace_period = self._warm_up(self.grace_period)
        if self._recalibrator is not None:
            self._recalibrator.grace_period = self._warm_up(self.recalibration_grace)
        # Memories in time: the calibrations', the range's, the incident kinds', the onset's
        memory = self._in_time(self.long_window, self.memory_time)
        for calibrator in (*self._calibrators.values(), self._range_calibrator):
            calibrator.lengthen(memory)
        if self._recalibrator is not None:
            self._recalibrator.lengthen(memory)
        self._range.lengthen(memory)
        for incident in self._incidents.values():
            incident.memory = memory
        # The onset's quiet period: in time, but no longer than the warm-up
        refractory = max(self.refractory, 1)
        if self.refractory_time > 0 and self._step > 0:
            refractory = max(math.ceil(self.refractory_time / self._step), 1)
        self._recent.lengthen(self._warm_up(refractory))
        season_length = self._season_length(self._step)
        self._forecaster = LagForecaster(
            n_lags=self.n_lags,
            forgetting_factor=self.forgetting_factor,
            season_length=season_length,
            season=self.season,
        )
        if season_length:
            self._seasonal = SeasonalProfile(
                period=self.season,
                n_buckets=season_length,
                points_per_bucket=self.season / self._step / season_length,
            )
        for t, v in self._first_points:
            self._forecaster.learn_one(v, t)
            if self._seasonal is not None:
                self._seasonal.learn_one(t, v)
        self._first_points = []

    @staticmethod
    def _median_step(timestamps: list[float]) -> float:
        steps = sorted(b - a for a, b in zip(timestamps, timestamps[1:], strict=False))
        return steps[len(steps) // 2] if steps else 0.0

    def _season_length(self, step: float) -> int:
        """Buckets per ``season`` at the sampling interval ``step``: a point each, at most
        ``max_season_length``; 0 when a season holds under two points."""
        if self.season <= 0 or step <= 0:
            return 0
        length = round(self.season / step)
        if length < 2 or self.max_season_length < 2:
            return 0
        return min(length, self.max_season_length)

    def _decades(self, tail_probability: float) -> float:
        """Decades of improbability over ``score_decades``, in [0, 1]."""
        # max(0.0, ...) also turns the -0.0 of a certain event into 0.0
        return max(0.0, min(1.0, -math.log10(max(tail_probability, 1e-300)) / self.score_decades))

    def _combine(self, scores: dict[str, float]) -> float:
        if self.combination == "max":
            # Bonferroni: the smallest of k tail probabilities is k times less surprising.
            best = max(scores.values())
            return max(0.0, best - math.log10(len(scores)) / self.score_decades)
        # Fisher: -ln of a product of k uniform p-values follows Gamma(k, 1), whose tail is
        # exp(-s) * sum_{i<k} s**i / i!.
        evidence = sum(scores.values()) * self.score_decades * math.log(10)
        term = tail = 1.0
        for i in range(1, len(scores)):
            term *= evidence / i
            tail += term
        # Not clipped at 1: the recalibrator ranks the strongest agreements too
        return max(0.0, -math.log10(max(math.exp(-evidence) * tail, 1e-300)) / self.score_decades)

    def _warm_up(self, points: int) -> int:
        """``points`` of warm-up, or ``warm_up_time`` of the series' time if fewer (at least 24
        points)."""
        if self._step <= 0 or self.warm_up_time <= 0:
            return points
        return min(points, max(24, math.ceil(self.warm_up_time / self._step)))

    def _in_time(self, points: int, seconds: float) -> int:
        """``points``, or ``seconds`` of the series' time if more."""
        if self._step <= 0 or seconds <= 0:
            return points
        return max(points, math.ceil(seconds / self._step))

    def _recalibrated(self, evidence: float) -> float:
        """The smaller of the combined ``evidence`` (in [0, 1]) and how unusual it is on this
        series (the recalibrator learns it unbounded)."""
        self._n_seen += 1
        recalibrator = self._recalibrator
        combined = min(evidence, 1.0)
        # Learning starts with the first calibrated scores: before them every score is 0.
        if recalibrator is None or self._n_seen <= self._warm_up(self.grace_period):
            return combined
        unusual = self._decades(recalibrator.score_one(evidence))
        recalibrator.learn_one(evidence)
        return min(combined, unusual)

    def parameters(self) -> dict:
        """The keyword arguments this stack was built with (``DetectorStack(**p)`` is a twin).

        >>> DetectorStack(threshold=0.5).parameters()["threshold"]
        0.5
        """
        names = inspect.signature(DetectorStack).parameters
        return {name: getattr(self, name) for name in names}

    def forecast(self, horizon: int) -> list[float]:
        """Expected values for the next ``horizon`` points (capacity planning)."""
        if self._forecaster is None:
            return [math.nan] * horizon
        return [self._uncentered(x) for x in self._forecaster.forecast(horizon)]

    @property
    def firing(self) -> bool:
        return self._policy.firing


def _isolation_ratio(hst_score: float) -> float:
    """Half-Space-Trees score ``1 - mass / max_mass`` as ``max_mass / mass - 1``: unbounded, so
    the calibration can tell a rare point from a very rare one."""
    return 1.0 / max(1.0 - hst_score, 1e-9) - 1.0

"""The default per-series detector stack: three detectors, one calibrated score, one alert."""

from __future__ import annotations

import dataclasses

from detectors.alerting import AlertTransition, HysteresisAlert
from detectors.forecaster import LagForecaster
from detectors.isolation import HalfSpaceTreesDetector
from detectors.likelihood import AnomalyLikelihood, log_likelihood
from detectors.zscore import ZScore

__all__ = ["Assessment", "DetectorStack", "DETECTOR_NAMES"]

DETECTOR_NAMES = ("zscore", "hst", "forecast")


@dataclasses.dataclass(slots=True)
class Assessment:
    """What the stack concluded about one point, computed before learning it."""

    timestamp: float
    value: float
    anomaly_score: float
    alert: bool
    zscore: float
    hst_score: float
    forecast_score: float
    expected: float
    lower: float
    upper: float
    agreeing: tuple[str, ...]
    transition: AlertTransition | None = None


class DetectorStack:
    """Rolling z-score, Half-Space-Trees and a lag forecaster, calibrated and combined.

    For every point the three raw scores are turned into anomaly likelihoods against their own
    recent history on this series (:class:`~detectors.likelihood.AnomalyLikelihood`); the
    combined likelihood is the largest of the three, log-scaled into ``anomaly_score`` in
    [0, 1]; the alert policy turns that score into incidents. Every point is scored before any
    model learns it.

    Parameters
    ----------
    detectors
        Which detectors contribute to the combined score (a subset of ``DETECTOR_NAMES``; all
        are always computed so that their columns are available).
    window_size
        Rolling window of the z-score and of the shape features.
    n_lags, forgetting_factor
        The lag forecaster's parameters.
    n_trees, height, hst_window_size
        The Half-Space-Trees parameters.
    short_window, long_window, grace_period
        The calibration's parameters; no score is above 0 for the first ``grace_period`` points.
    threshold, exit_threshold, min_duration, cooldown
        The alert policy on ``anomaly_score``.
    seed
        Seed of the Half-Space-Trees.

    Examples
    --------
    >>> import math, random
    >>> rng = random.Random(7)
    >>> stack = DetectorStack(grace_period=200)
    >>> values = [50 + 10 * math.sin(i / 20) + rng.gauss(0, 1) for i in range(800)]
    >>> values[700] = 120  # a spike
    >>> scores = [stack.process(float(t), v).anomaly_score for t, v in enumerate(values)]
    >>> max(scores[300:700]) < scores[700]
    True
    """

    def __init__(
        self,
        detectors: tuple[str, ...] = DETECTOR_NAMES,
        window_size: int = 12,
        n_lags: int = 24,
        forgetting_factor: float = 0.999,
        n_trees: int = 10,
        height: int = 8,
        hst_window_size: int = 250,
        short_window: int = 3,
        long_window: int = 2000,
        grace_period: int = 300,
        threshold: float = 0.5,
        exit_threshold: float | None = 0.3,
        min_duration: int = 1,
        cooldown: int = 12,
        seed: int | None = 42,
    ):
        unknown = set(detectors) - set(DETECTOR_NAMES)
        if unknown or not detectors:
            raise ValueError(f"detectors must be a non-empty subset of {DETECTOR_NAMES}")
        self.detectors = tuple(detectors)
        self.window_size = window_size
        self.n_lags = n_lags
        self.forgetting_factor = forgetting_factor
        self.n_trees = n_trees
        self.height = height
        self.hst_window_size = hst_window_size
        self.short_window = short_window
        self.long_window = long_window
        self.grace_period = grace_period
        self.threshold = threshold
        self.exit_threshold = exit_threshold
        self.min_duration = min_duration
        self.cooldown = cooldown
        self.seed = seed

        self._zscore = ZScore(window_size=window_size)
        self._hst = HalfSpaceTreesDetector(
            feature_window_size=window_size,
            n_trees=n_trees,
            height=height,
            window_size=hst_window_size,
            seed=seed,
        )
        self._forecaster = LagForecaster(n_lags=n_lags, forgetting_factor=forgetting_factor)
        self._calibrators = {
            name: AnomalyLikelihood(short_window, long_window, grace_period)
            for name in DETECTOR_NAMES
        }
        self._policy = HysteresisAlert(threshold, exit_threshold, min_duration, cooldown)

    def process(self, timestamp: float, value: float) -> Assessment:
        """Score ``value`` at ``timestamp``, then learn it."""
        zscore = self._zscore.zscore(value)
        raw = {
            "zscore": abs(zscore),
            "hst": self._hst.score_one(value),
            "forecast": self._forecaster.score_one(value),
        }
        expected = self._forecaster.predict_one()
        lower, upper = self._forecaster.band()

        likelihoods = {name: self._calibrators[name].score_one(raw[name]) for name in raw}
        combined = max(likelihoods[name] for name in self.detectors)
        anomaly_score = log_likelihood(combined)
        transition = self._policy.update(anomaly_score, timestamp)
        agreeing = tuple(
            name for name in self.detectors if log_likelihood(likelihoods[name]) >= self.threshold
        )

        for name, calibrator in self._calibrators.items():
            calibrator.learn_one(raw[name])
        self._zscore.learn_one(value)
        self._hst.learn_one(value)
        self._forecaster.learn_one(value)

        return Assessment(
            timestamp=timestamp,
            value=value,
            anomaly_score=anomaly_score,
            alert=self._policy.firing,
            zscore=zscore,
            hst_score=raw["hst"],
            forecast_score=raw["forecast"],
            expected=expected,
            lower=lower,
            upper=upper,
            agreeing=agreeing,
            transition=transition,
        )

    def forecast(self, horizon: int) -> list[float]:
        """Expected values for the next ``horizon`` points (capacity planning)."""
        return self._forecaster.forecast(horizon)

    @property
    def firing(self) -> bool:
        return self._policy.firing

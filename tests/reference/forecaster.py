"""Online linear forecaster on lagged values, with a residual band.

The model is ridge regression on the last ``n_lags`` values plus an intercept, with
exponential forgetting, kept by recursive least squares with a ridge refilled one diagonal entry
at a time: the readable form of :mod:`detectors.parts.forecaster`, which says why. With
``forgetting_factor=1`` the weights equal batch ``Ridge(alpha)`` on the same lags (a property
test checks this).

Values are divided by a scale frozen at the end of warm-up (mean absolute value of the first
``n_lags`` values), which makes ``alpha`` mean the same for CPU percentages and byte counts.
A scale can turn out wrong by orders of magnitude: a gauge reads 0 until its service starts,
then 8 GiB. The scaled features then dwarf the ridge, the system gets ill-conditioned and at
last stops being numerically positive definite (numpy's solve raised on it). So once a
diagonal entry of ``A`` exceeds ``RIDGE_HEADROOM`` times the ridge (values about 300 times
the scale, with the default forgetting), or the factorisation fails, the forecaster learns a
new scale from its last ``n_lags`` values and starts its fit over. So does a fit that a NaN
value reached: it heals once the NaN has left the lags.
"""

from __future__ import annotations

import math

import numpy as np

from tests.reference.compact import Float32Offsets
from tests.reference.rolling import EWMean


def _float32(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` rounded to float32 (the bank keeps ``P`` so), computed on in float64."""
    return matrix.astype(np.float32).astype(np.float64)


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    """The upper triangle of ``matrix`` in float32, mirrored (the bank stores only it)."""
    upper = np.triu(_float32(matrix))
    return upper + np.triu(upper, 1).T


def _in_order(terms: np.ndarray) -> np.ndarray | float:
    """The sums of ``terms`` along the last axis, left to right (the bank's order)."""
    return np.cumsum(terms, axis=-1)[..., -1]


__all__ = ["LagForecaster", "RIDGE_HEADROOM"]

# Mean absolute deviation of a normal distribution is sigma * sqrt(2 / pi).
_MAD_TO_SIGMA = math.sqrt(math.pi / 2)
#: How far the largest diagonal entry of the normal equations may outgrow the ridge before the
#: scale is learnt again: beyond it the ridge is lost in rounding, and solves disagree.
RIDGE_HEADROOM = 1e8


class LagForecaster:
    """Predict the next value from the previous ``n_lags`` values; score the surprise.

    Parameters
    ----------
    n_lags
        Number of lagged values used as features.
    forgetting_factor
        Weight decay per point of past observations (1 = never forget).
    alpha
        Ridge penalty on the scaled weights.
    band_width
        Half-width of the expected band in residual standard deviations.
    residual_alpha
        Smoothing of the running mean absolute residual that sets the band.
    season_length
        Buckets per season (e.g. 288 for a daily cycle in 5-minute buckets; 0 = none). The
        mean of the values in the bucket one season before the point's (and either side of
        it) become three extra features, so a daily pattern is predicted instead of being
        surprising every day. While one of them is unknown (the first season, a gap) they
        repeat the last value.
    season
        The season in seconds (default: ``season_length``, one bucket per second); the
        timestamps passed to :meth:`predict_one`, :meth:`learn_one` and :meth:`remember_one`
        place the values in buckets. Without timestamps the values are one bucket apart.

    Examples
    --------
    >>> import math
    >>> model = LagForecaster(n_lags=4, forgetting_factor=1.0)
    >>> series = [10 + 5 * math.sin(i / 3) for i in range(200)]
    >>> for y in series:
    ...     _ = model.score_one(y)
    ...     model.learn_one(y)
    >>> truth = 10 + 5 * math.sin(200 / 3)
    >>> abs(model.predict_one() - truth) < 0.1
    True
    >>> lower, upper = model.band()
    >>> lower < model.predict_one() < upper
    True
    """

    def __init__(
        self,
        n_lags: int = 24,
        forgetting_factor: float = 0.999,
        alpha: float = 0.1,
        band_width: float = 3.0,
        residual_alpha: float = 0.02,
        season_length: int = 0,
        season: float | None = None,
    ):
        if n_lags < 1:
            raise ValueError(f"n_lags must be >= 1, got {n_lags}")
        if season_length and season_length < 2:
            raise ValueError(f"season_length must be 0 or >= 2, got {season_length}")
        self.n_lags = n_lags
        self.forgetting_factor = forgetting_factor
        self.alpha = alpha
        self.band_width = band_width
        self.residual_alpha = residual_alpha
        self.season_length = season_length
        self.season = float(season_length if season is None else season)

        size = n_lags + 1 + (3 if season_length else 0)
        # Fixed-length windows, newest value last (a float64 array for the lags; the season's
        # in float32 offsets: a season of 5-minute points takes 1.1 KiB, where a deque of Python
        # floats would take 10 KiB).
        self._lags = np.zeros(n_lags)
        # The buckets of the last season and two: the oldest feature's and the one being filled
        self._history = Float32Offsets(season_length + 2 if season_length else 0)
        self._history._offsets[:] = math.nan
        self._newest_bucket: int | None = None  # the bucket of the newest value kept
        self._bucket_values: list[float] = []  # the values in it
        self._clock = 0  # values kept: their time when no timestamp is given
        self._n_learned = 0
        self.scale = math.nan
        # The inverse of A, stored in float32 as the bank stores it (computed in float64)
        self._p = _float32(np.eye(size) / alpha if alpha else np.eye(size) * 1e300)
        self._diagonal = np.full(size, float(alpha))  # A's diagonal
        self.weights = np.zeros(size)
        self._fitted = 0
        self._abs_residual = EWMean(residual_alpha)
        # Features and prediction for the next point, computed once between two learns.
        self._next_features: np.ndarray | None = None
        self._next_timestamp: float | None = None
        self._next_prediction = math.nan

    @property
    def ready(self) -> bool:
        """True once the model has been fitted on ``n_lags`` points after filling its lags, and
        the lags have been refilled since the last :meth:`restart`."""
        return self._fitted >= self.n_lags and self._n_learned >= self.n_lags

    def restart(self) -> None:
        """Forget the lags, keep the weights: after a gap in the data the last values are not
        the previous points any more. Predictions resume once ``n_lags`` new values arrived."""
        self._n_learned = 0
        self._next_features = None

    def _time(self, timestamp: float | None) -> float:
        if timestamp is not None:
            return timestamp
        return float(self._clock) * (self.season / self.season_length if self.season_length else 1)

    def _bucket(self, timestamp: float) -> int:
        return math.floor(timestamp * self.season_length / self.season)

    def _season_ago(self, timestamp: float) -> list[float] | None:
        """The history's values of the three buckets around one season before ``timestamp``'s,
        or None if one is not kept or had no value."""
        size = len(self._history)
        newest = self._newest_bucket
        first = self._bucket(timestamp) - self.season_length - 1
        if newest is None or not (newest - size < first and first + 2 <= newest):
            return None
        values = [self._history[(first + j) % size] for j in range(3)]
        return None if any(math.isnan(v) for v in values) else values

    def _features(self, lags: np.ndarray, season_ago: list[float] | None) -> np.ndarray:
        """Intercept, lags and (with a season) the values one season ago, divided by ``scale``."""
        x = np.empty(len(self.weights))
        x[0] = 1.0
        n = self.n_lags
        x[1 : n + 1] = lags
        if self.season_length:
            x[n + 1 :] = lags[-1] if season_ago is None else season_ago
        x[1:] /= self.scale
        return x

    def _next(self, timestamp: float | None = None) -> np.ndarray:
        """The features of the next point (cached until the next ``learn_one``)."""
        t = self._time(timestamp)
        if self._next_features is None or self._next_timestamp != t:
            season_ago = self._season_ago(t) if self.season_length else None
            self._next_features = self._features(self._lags, season_ago)
            self._next_timestamp = t
            self._next_prediction = float(self._next_features @ self.weights) * self.scale
        return self._next_features

    def predict_one(self, timestamp: float | None = None) -> float:
        """Expected next value (at ``timestamp``); NaN during warm-up."""
        if not self.ready:
            return math.nan
        self._next(timestamp)
        return self._next_prediction

    @property
    def residual_std(self) -> float:
        """Running residual scale (mean absolute residual converted to a standard deviation)."""
        mad = self._abs_residual.get()
        if math.isnan(mad):
            return math.nan
        return max(mad * _MAD_TO_SIGMA, 1e-9 * max(1.0, abs(self.scale)))

    def band(self, timestamp: float | None = None) -> tuple[float, float]:
        """Lower and upper bound of the expected next value."""
        expected = self.predict_one(timestamp)
        half_width = self.band_width * self.residual_std
        return expected - half_width, expected + half_width

    def score_one(self, x: float) -> float:
        """Absolute residual of ``x`` in residual standard deviations (0 during warm-up)."""
        expected = self.predict_one()
        scale = self.residual_std
        if math.isnan(expected) or math.isnan(scale):
            return 0.0
        return abs(x - expected) / scale

    def learn_one(self, x: float, timestamp: float | None = None) -> None:
        if math.isnan(self.scale):
            self._remember(x, timestamp)
            if self._n_learned == self.n_lags:
                scale = float(np.mean(np.abs(self._lags)))
                self.scale = scale if scale > 1e-9 else 1.0
            return
        if self._n_learned < self.n_lags:  # refilling the lags after a restart
            self._remember(x, timestamp)
            return

        if self.ready:
            self._abs_residual.update(abs(x - self.predict_one(timestamp)))
        features = self._next(timestamp)
        if not self._recursive_least_squares(features, x / self.scale):
            self._remember(x, timestamp)
            self._restart_fit()
            return
        self._fitted += 1
        self._remember(x, timestamp)

    def remember_one(self, x: float, timestamp: float | None = None) -> None:
        """Push ``x`` into the lags (and the season's history) without learning from it."""
        self._remember(x, timestamp)

    def _recursive_least_squares(self, features: np.ndarray, target: float) -> bool:
        """One RLS step on ``P`` (the inverse of ``A``) and the weights, then the ridge refill
        of one diagonal entry in turn; False if it failed (a NaN, or a scale far off)."""
        lam = self.forgetting_factor
        p = self._p
        # P is kept in float32 (as the bank keeps it), so that P f, d and the updates round the
        # same: the bank's arithmetic, in its order (sums left to right, factors as it groups
        # them, the upper triangle mirrored).
        v = _in_order(p * features)
        error = target - features @ self.weights
        d = _in_order(np.concatenate([[lam], features * v]))
        if not (d > 0 and math.isfinite(d) and math.isfinite(error)):
            return False
        u, d = v / lam, d / lam
        self._p = _symmetric(p * (1.0 / lam) - np.outer(u * (1.0 / d), u))
        self.weights = self.weights + u * (error / d)
        self._diagonal = self._diagonal * lam + features * features
        # The refill cycles over the compiled stack's system size, whose last three entries are
        # padding (kept apart) when there is no season: a turn on one of them changes nothing.
        cycle = self.n_lags + 4
        refill = cycle * (1 - lam) * self.alpha
        k = self._fitted % cycle
        if refill and k < len(features):
            g = self._p[:, k].copy()
            scale = refill / (1 + refill * g[k])
            self.weights = self.weights - g * (scale * self.weights[k])
            self._p = _symmetric(self._p - np.outer(scale * g, g))
            self._diagonal[k] += refill
        return self._ridge_counts() and bool(np.isfinite(self.weights).all())

    def _ridge_counts(self) -> bool:
        """False once the scaled values outgrew the ridge (see the module docstring), or NaN."""
        return not self.alpha or bool(np.max(self._diagonal) <= RIDGE_HEADROOM * self.alpha)

    def _restart_fit(self) -> None:
        """Learn the scale again from the last ``n_lags`` values and forget the fit (not the
        lags, the season's history or the residual scale): predictions resume after ``n_lags``
        fitted points, as after warm-up."""
        scale = float(np.mean(np.abs(self._lags)))
        self.scale = scale if scale > 1e-9 else 1.0
        size = len(self.weights)
        self._p = _float32(np.eye(size) / self.alpha if self.alpha else np.eye(size) * 1e300)
        self._diagonal = np.full(size, float(self.alpha))
        self.weights = np.zeros(size)
        self._fitted = 0

    def _remember(self, x: float, timestamp: float | None = None) -> None:
        _push(self._lags, x)
        if self.season_length:
            self._keep(x, self._bucket(self._time(timestamp)))
        self._clock += 1
        self._n_learned += 1
        self._next_features = None

    def _keep(self, x: float, bucket: int) -> None:
        """Fold ``x`` into the history's ``bucket`` (the mean of its values); a later bucket
        starts anew, the buckets skipped on the way NaN."""
        history, size = self._history, len(self._history)
        newest = self._newest_bucket
        if newest is None or bucket > newest:
            start = bucket - size if newest is None else max(newest + 1, bucket - size)
            for skipped in range(start, bucket):
                history._offsets[skipped % size] = math.nan
            self._newest_bucket = newest = bucket
            self._bucket_values = []
        self._bucket_values.append(x)
        total = 0.0
        for value in self._bucket_values:  # in order, as the compiled stack sums them
            total += value
        history[newest % size] = total / len(self._bucket_values)

    def forecast(self, horizon: int) -> list[float]:
        """Forecast the next ``horizon`` values, one bucket apart, feeding predictions back as
        lags (the season's history stays as it is)."""
        if not self.ready:
            return [math.nan] * horizon
        lags = self._lags.copy()
        t = self._time(None)
        step = self.season / self.season_length if self.season_length else 0.0
        out = []
        for k in range(horizon):
            season_ago = self._season_ago(t + k * step) if self.season_length else None
            y = float(self._features(lags, season_ago) @ self.weights) * self.scale
            out.append(y)
            _push(lags, y)
        return out


def _push(window: np.ndarray, x: float) -> None:
    """Append ``x`` to a fixed-length window, newest last, dropping the oldest value."""
    window[:-1] = window[1:]
    window[-1] = x

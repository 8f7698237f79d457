"""A time-of-day (or any period) profile: what this metric usually does at this phase."""

from __future__ import annotations

import math

import numpy as np

from tests.reference.compact import Float32Offsets, to_float32

__all__ = ["SeasonalProfile"]

_MAD_TO_SIGMA = math.sqrt(math.pi / 2)
_MAX_COUNT = int(np.iinfo(np.uint16).max)


class SeasonalProfile:
    """Exponentially weighted mean and mean absolute deviation per phase of a period.

    The phase of a point is its timestamp modulo ``period`` seconds, cut into ``n_buckets``
    buckets, so gaps in the data do not shift the profile. Each bucket learns from the points
    that fall into it, so with a daily period and 5-minute data a bucket sees one point a day.
    Means and deviations are kept in float32 (the means as offsets from the first value, see
    :class:`~tests.reference.compact.Float32Offsets`): 10 bytes per bucket.

    A bucket of a series sampled faster than the buckets holds ``points_per_bucket`` points a
    period: each weighs ``1 - (1 - alpha) ** (1 / points_per_bucket)``, the bucket needs
    ``min_cycles`` periods' worth of them, and its mean stands where they fall on average:
    the usual value and deviation between two buckets' are interpolated.

    Parameters
    ----------
    period
        Length of the cycle in seconds (86400 for daily).
    n_buckets
        Number of phase buckets per period.
    alpha
        Weight of a period in a bucket (0.3: roughly the last three cycles).
    min_cycles
        Periods a bucket needs before it predicts anything.
    points_per_bucket
        Points that fall in a bucket per period (1 or more).

    Examples
    --------
    >>> profile = SeasonalProfile(period=86400, n_buckets=24)
    >>> for day in range(5):
    ...     for hour in range(24):
    ...         profile.learn_one(day * 86400 + hour * 3600, 80.0 if 9 <= hour < 17 else 20.0)
    >>> profile.predict_one(5 * 86400 + 10 * 3600), profile.predict_one(5 * 86400 + 3600)
    (80.0, 20.0)
    >>> round(profile.score_one(5 * 86400 + 10 * 3600, 20.0, min_std=1.0), 1)
    60.0
    """

    def __init__(
        self,
        period: float = 86400.0,
        n_buckets: int = 288,
        alpha: float = 0.3,
        min_cycles: int = 2,
        points_per_bucket: float = 1.0,
    ):
        self.period = period
        self.n_buckets = n_buckets
        points = max(points_per_bucket, 1.0)
        self.alpha = alpha if points <= 1.0 else 1 - (1 - alpha) ** (1 / points)
        self.min_cycles = math.ceil(min_cycles * points)
        self.center = (1 - 1 / points) / 2
        self._mean = Float32Offsets(n_buckets)
        self._abs_dev = np.zeros(n_buckets, dtype=np.float32)
        self._count = np.zeros(n_buckets, dtype=np.uint16)

    def _bucket(self, timestamp: float) -> int:
        return int((timestamp % self.period) * self.n_buckets / self.period) % self.n_buckets

    def _trusted(self, b: int) -> bool:
        return self._count.item(b) >= self.min_cycles

    def _usual(self, timestamp: float) -> tuple[bool, float, float]:
        """Whether the bucket of ``timestamp`` is trusted, the usual value and the mean
        absolute deviation there."""
        phase = (timestamp % self.period) * self.n_buckets / self.period
        b = int(phase) % self.n_buckets
        if not self._trusted(b):
            return False, math.nan, math.nan
        mean, abs_dev = self._mean[b], self._abs_dev.item(b)
        w = phase - math.floor(phase) - self.center
        if self.center == 0.0 or w == 0.0:
            return True, mean, abs_dev
        other = (b + (1 if w > 0 else -1)) % self.n_buckets
        if not self._trusted(other):
            return True, mean, abs_dev
        w = abs(w)
        return (
            True,
            mean + w * (self._mean[other] - mean),
            abs_dev + w * (self._abs_dev.item(other) - abs_dev),
        )

    def predict_one(self, timestamp: float) -> float:
        """Usual value at this phase; NaN until the bucket has ``min_cycles`` observations."""
        return self._usual(timestamp)[1]

    def score_one(
        self,
        timestamp: float,
        x: float,
        min_std: float = 0.0,
        neighbours: bool = True,
        spread: float = 1.0,
    ) -> float:
        """|x - usual| in the bucket's standard deviations (>= ``min_std``); NaN if unknown.

        With ``neighbours`` the neighbouring buckets count too: a daily ramp that starts five
        minutes early is still the daily ramp. The previous bucket has usually just learned the
        previous point, though, so it also excuses any deviation that lasts; without
        ``neighbours`` only the point's own bucket, learned a period ago, judges it.
        """
        best = math.nan
        at = self._bucket(timestamp)
        for offset in (0, -1, 1) if neighbours else (0,):
            if offset == 0:
                trusted, mean, abs_dev = self._usual(timestamp)
                if not trusted:
                    continue
            else:
                b = (at + offset) % self.n_buckets
                if not self._trusted(b):
                    continue
                # .item() reads Python floats: numpy scalar arithmetic is slower, rounds the same
                mean, abs_dev = self._mean[b], self._abs_dev.item(b)
            std = max(abs_dev * _MAD_TO_SIGMA * spread, min_std)
            score = (0.0 if x == mean else math.inf) if std <= 0 else abs(x - mean) / std
            if not score >= best:  # also when best is NaN
                best = score
        return best

    def learn_one(self, timestamp: float, x: float) -> None:
        b = self._bucket(timestamp)
        count = self._count.item(b)
        if count == 0:
            self._mean[b] = x
        else:
            mean, abs_dev = self._mean[b], self._abs_dev.item(b)
            deviation = x - mean
            self._abs_dev[b] = to_float32(abs_dev + self.alpha * (abs(deviation) - abs_dev))
            self._mean[b] = mean + self.alpha * deviation
        if count < _MAX_COUNT:
            self._count[b] = count + 1


class WeeklyCorrection:
    """What the daily profile misses, per hour of the week (the reference of
    :mod:`detectors.parts.weekly`): each hour's mean residual ``x - usual`` folded into its
    bucket (float32) when a later hour starts, used where its recent error is below ``margin``
    times the daily profile's."""

    def __init__(self, alpha: float = 0.3, error_time: float = 3 * 86400.0, margin: float = 0.9):
        self.alpha, self.error_time, self.margin = alpha, error_time, margin
        self.corrections: dict[int, float] = {}
        self.hour: int | None = None
        self.total, self.count = 0.0, 0
        self.daily_error = self.weekly_error = math.nan

    def chosen(self) -> bool:
        return self.weekly_error < self.margin * self.daily_error

    def spread(self) -> float:
        """How much narrower the weekly season's errors are than the daily profile's."""
        return self.weekly_error / self.daily_error if self.chosen() else 1.0

    def known(self, hour: int) -> float:
        return self.corrections.get(hour % 168, 0.0)

    def correction(self, timestamp: float) -> float:
        return self.known(math.floor(timestamp / 3600.0)) if self.chosen() else 0.0

    def learn(self, timestamp: float, x: float, usual: float, step: float) -> None:
        if math.isnan(usual):
            return
        hour = math.floor(timestamp / 3600.0)
        kept = self.corrections.get(hour % 168)
        if kept is not None:
            weight = -math.expm1(-max(step, 0.0) / self.error_time)
            daily, weekly = abs(x - usual), abs(x - usual - kept)
            if math.isnan(self.daily_error):
                self.daily_error, self.weekly_error = daily, weekly
            else:
                self.daily_error += weight * (daily - self.daily_error)
                self.weekly_error += weight * (weekly - self.weekly_error)
        if self.hour is None or hour > self.hour:
            if self.count:
                mean = self.total / self.count
                old = self.corrections.get(self.hour % 168)
                new = mean if old is None else old + self.alpha * (mean - old)
                self.corrections[self.hour % 168] = float(np.float32(new))
            self.hour, self.total, self.count = hour, 0.0, 0
        self.total += x - usual
        self.count += 1

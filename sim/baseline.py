"""The weekly z-score rule an SRE would write in Prometheus, as the baseline Lookout must beat.

.. code-block:: yaml

    - alert: MetricUnusual
      expr: abs(x - avg_over_time(x[1w])) / stddev_over_time(x[1w]) > 3
      for: 5m

Streaming, without look-ahead: at each sample the mean and the (population) standard deviation
are those of the samples of the last ``window`` seconds up to and including this one, as a range
selector ``x[1w]`` evaluated at the sample's time holds it. As in PromQL, a zero deviation
makes ``|z|`` NaN when the value equals the mean (no page) and infinite otherwise (a page).

``for: 5m`` is read in wall time: the rule is evaluated continuously and a sample's value stands
for one sampling interval (``step``), so a run of samples over the threshold fires once it
covers ``hold`` seconds: from its 20th sample at 15 s, its 5th at 1 min, its first at 5 min and
1 h. A silence longer than ``hold`` (the sample went stale) ends the run. One alert is one
contiguous run of firing samples.

``anomaly_score`` is ``|z| / (|z| + threshold)`` (0.5 at the threshold, 0 where ``z`` is NaN) so
NAB's threshold sweep can run on it; the ``alert`` column is the rule's decision.

Examples
--------
>>> stamps = pd.date_range("2026-01-05", periods=3000, freq="min")
>>> values = np.random.default_rng(0).normal(100, 1, 3000)
>>> values[2500:2600] += 10  # a 10-sigma level shift for 100 minutes
>>> frame = WeeklyZScore().score_frame(pd.DataFrame({"timestamp": stamps, "value": values}))
>>> opens = np.flatnonzero(np.diff(frame["alert"].to_numpy(), prepend=0) == 1)
>>> opens.tolist()  # opens 4 minutes after the shift: 5 minutes of samples over 3 sigma
[2504]
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

__all__ = ["WeeklyZScore"]

WEEK = 7 * 86400.0


@dataclasses.dataclass(frozen=True)
class WeeklyZScore:
    """``|x - avg_over_time(x[window])| / stddev_over_time(x[window]) > threshold`` for ``hold``.

    Parameters
    ----------
    window
        The range of the mean and standard deviation, in seconds (a week).
    threshold
        The ``|z|`` above which a sample is unusual.
    hold
        The rule's ``for:`` in seconds (5 minutes).
    """

    window: float = WEEK
    threshold: float = 3.0
    hold: float = 300.0

    def zscores(self, seconds: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``z`` of every sample against the samples of the last ``window`` (itself included).

        >>> WeeklyZScore().zscores(np.arange(4.0), np.array([1.0, 1.0, 3.0, 1.0])).round(3)
        array([   nan,    nan,  1.414, -0.577])
        """
        values = np.asarray(values, dtype=np.float64)
        # Offsets (bytes at 8e9, boot times at 1.7e9) cost the rolling sums their precision;
        # the first value is known from the start, so subtracting it looks at no future data.
        shifted = pd.Series(values - values[0] if len(values) else values)
        shifted.index = pd.to_datetime(np.asarray(seconds, dtype=np.float64), unit="s")
        rolling = shifted.rolling(pd.Timedelta(seconds=self.window))
        mean, std = rolling.mean().to_numpy(), rolling.std(ddof=0).to_numpy()
        deviation = shifted.to_numpy() - mean
        # Rolling sums leave round-off where PromQL would find exactly zero.
        tiny = 1e-9 * (np.abs(mean) + np.abs(shifted.to_numpy()) + 1e-300)
        std = np.where(std <= tiny, 0.0, std)
        deviation = np.where(np.abs(deviation) <= tiny, 0.0, deviation)
        with np.errstate(divide="ignore", invalid="ignore"):
            return deviation / std

    def decide(self, seconds: np.ndarray, z: np.ndarray, step: float | None = None) -> np.ndarray:
        """Whether the alert fires at each sample: ``|z| > threshold`` for ``hold`` seconds of
        wall time, each sample standing for ``step`` seconds (default: the median interval).

        >>> rule = WeeklyZScore()
        >>> rule.decide(np.arange(8) * 60.0, np.array([0, 4, 4, 4, 4, 4, 0, 4.0])).astype(int)
        array([0, 0, 0, 0, 0, 1, 0, 0])
        """
        seconds = np.asarray(seconds, dtype=np.float64)
        if len(seconds) == 0:
            return np.zeros(0, dtype=bool)
        if step is None:
            step = float(np.median(np.diff(seconds))) if len(seconds) > 1 else self.hold
        over = np.abs(np.nan_to_num(z, nan=0.0)) > self.threshold
        stale = np.r_[True, np.diff(seconds) > max(self.hold, step)]
        starts = over & (~np.r_[False, over[:-1]] | stale)
        run_start = np.where(starts, seconds, -np.inf)
        run_start = np.maximum.accumulate(run_start)
        return over & (seconds - run_start + step >= self.hold)

    def score_frame(self, frame: pd.DataFrame, step: float | None = None) -> pd.DataFrame:
        """A ``timestamp, value`` frame scored: ``timestamp, value, anomaly_score, alert, z``
        (the columns of a ``lookout replay`` result that the evaluation reads)."""
        stamps = pd.to_datetime(frame["timestamp"])
        seconds = (stamps - pd.Timestamp(0)).dt.total_seconds().to_numpy()
        values = frame["value"].to_numpy(dtype=np.float64)
        z = self.zscores(seconds, values)
        magnitude = np.nan_to_num(np.abs(z), nan=0.0, posinf=1e300)
        return pd.DataFrame(
            {
                "timestamp": frame["timestamp"].to_numpy(),
                "value": values,
                "anomaly_score": magnitude / (magnitude + self.threshold),
                "alert": self.decide(seconds, z, step).astype(int),
                "z": z,
            }
        )

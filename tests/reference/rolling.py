"""Incremental statistics over a sliding window and with exponential decay.

Each statistic follows river's ``update`` / ``get`` protocol, so a detector can ask for the value
*before* it learns the current point (no look-ahead). ``RollingStats`` keeps mean, variance, min and
max of the last ``window_size`` values in O(1) amortised time per update; ``BlockedMax`` and
``BlockedRange`` keep about the last ``window_size`` values' maximum or range in a few blocks'
extremes, without holding the window; ``EWMean`` and ``EWVar`` weigh recent values more.
"""

from __future__ import annotations

import collections
import math

import numpy as np

__all__ = ["RollingStats", "BlockedMax", "BlockedRange", "EWMean", "EWVar"]


class RollingStats:
    """Mean, variance, standard deviation, min and max of the last ``window_size`` values.

    Mean and variance use Welford's update with its exact revert when a value leaves the window;
    min and max use monotonic deques. Values equal pandas' ``Series.rolling(window_size,
    min_periods=1)`` statistics (variance with ``ddof``).

    Parameters
    ----------
    window_size
        Number of most recent values the statistics cover.
    ddof
        Delta degrees of freedom of the variance (1 = sample variance, as pandas).

    Examples
    --------
    >>> stats = RollingStats(window_size=3)
    >>> for x in [1.0, 2.0, 3.0, 10.0]:
    ...     stats.update(x)
    >>> stats.mean, stats.min, stats.max
    (5.0, 2.0, 10.0)
    >>> round(stats.std, 4)
    4.3589
    """

    def __init__(self, window_size: int, ddof: int = 1):
        if window_size < 1:
            raise ValueError(f"window_size must be >= 1, got {window_size}")
        self.window_size = window_size
        self.ddof = ddof
        self._window: collections.deque[float] = collections.deque()
        self._mean = 0.0
        self._m2 = 0.0
        # Indices into a virtual stream, so that expired extremes can be recognised.
        self._count = 0
        self._mins: collections.deque[tuple[int, float]] = collections.deque()
        self._maxs: collections.deque[tuple[int, float]] = collections.deque()

    @property
    def n(self) -> int:
        """Number of values currently in the window."""
        return len(self._window)

    def update(self, x: float) -> None:
        """Add ``x`` and drop the value that falls out of the window."""
        if len(self._window) == self.window_size:
            self._revert(self._window.popleft())
        self._window.append(x)
        n = len(self._window)
        delta = x - self._mean
        self._mean += delta / n
        self._m2 += delta * (x - self._mean)

        index = self._count
        self._count += 1
        while self._mins and self._mins[-1][1] >= x:
            self._mins.pop()
        self._mins.append((index, x))
        while self._maxs and self._maxs[-1][1] <= x:
            self._maxs.pop()
        self._maxs.append((index, x))
        oldest = index - self.window_size
        if self._mins[0][0] <= oldest:
            self._mins.popleft()
        if self._maxs[0][0] <= oldest:
            self._maxs.popleft()

    def _revert(self, x: float) -> None:
        n = len(self._window) + 1  # size before x was removed; caller already popped it
        n_after = n - 1
        if n_after == 0:
            self._mean = 0.0
            self._m2 = 0.0
            return
        mean_after = (n * self._mean - x) / n_after
        self._m2 -= (x - self._mean) * (x - mean_after)
        self._mean = mean_after

    @property
    def mean(self) -> float:
        return self._mean if self._window else math.nan

    @property
    def var(self) -> float:
        n = len(self._window)
        if n - self.ddof <= 0:
            return math.nan
        return max(self._m2, 0.0) / (n - self.ddof)

    @property
    def std(self) -> float:
        return math.sqrt(self.var)

    @property
    def min(self) -> float:
        return self._mins[0][1] if self._mins else math.nan

    @property
    def max(self) -> float:
        return self._maxs[0][1] if self._maxs else math.nan


class BlockedMax:
    """Highest of about the last ``window_size`` values, in ``n_blocks`` floats.

    The values are kept as the maxima of ``n_blocks`` consecutive blocks of ``window_size //
    n_blocks`` values, the newest block still filling; the oldest block is forgotten whole when
    a new one starts, so the maximum covers the last ``(n_blocks - 1) * block_size + 1`` to
    ``n_blocks * block_size`` values. The onset rule's maximum of the last 200 scores then costs
    80 bytes instead of a window of 200 floats. NaN values are not learned.

    Examples
    --------
    >>> rolling = BlockedMax(window_size=4, n_blocks=2)  # blocks of 2 values
    >>> for x in [5.0, 1.0, 3.0, 4.0]:
    ...     rolling.update(x)
    >>> rolling.max
    5.0
    >>> rolling.update(2.0)  # starts a block: [5, 1] is forgotten
    >>> rolling.max, rolling.n
    (4.0, 5)
    >>> BlockedMax(10).max
    -inf
    """

    def __init__(self, window_size: int, n_blocks: int = 10):
        if window_size < 1 or n_blocks < 1:
            raise ValueError(f"window_size and n_blocks must be >= 1: {window_size}, {n_blocks}")
        self.window_size = window_size
        self.n_blocks = n_blocks
        self.block_size = max(window_size // n_blocks, 1)
        self._highs = np.full(n_blocks, -math.inf)
        self.n = 0  # values learned

    def lengthen(self, window_size: int) -> None:
        """Cover about the last ``window_size`` values from now on (blocks grow, their number
        stays): a window in time, once the series' sampling interval is known."""
        self.window_size = window_size
        self.block_size = max(window_size // self.n_blocks, 1)

    def update(self, x: float) -> None:
        if math.isnan(x):
            return
        at = self.n // self.block_size % self.n_blocks
        if self.n % self.block_size == 0:  # a new block replaces the oldest
            self._highs[at] = x
        else:
            self._highs[at] = max(self._highs.item(at), x)
        self.n += 1

    @property
    def max(self) -> float:
        return self._highs.max().item()


class BlockedRange:
    """Lowest and highest of about the last ``window_size`` values, in ``2 * n_blocks`` floats:
    a :class:`BlockedMax` of the values and one of their negatives (see there for which values
    are covered). A rolling range of 5,000 points then costs 160 bytes instead of a deque of up
    to 5,000 values. NaN values are not learned.

    Examples
    --------
    >>> rolling = BlockedRange(window_size=4, n_blocks=2)  # blocks of 2 values
    >>> for x in [5.0, 1.0, 3.0, 4.0]:
    ...     rolling.update(x)
    >>> rolling.low, rolling.high
    (1.0, 5.0)
    >>> rolling.update(2.0)  # starts a block: [5, 1] is forgotten
    >>> rolling.low, rolling.high, rolling.n
    (2.0, 4.0, 5)
    >>> BlockedRange(10).high
    -inf
    """

    def __init__(self, window_size: int, n_blocks: int = 10):
        self._highs = BlockedMax(window_size, n_blocks)
        self._negated_lows = BlockedMax(window_size, n_blocks)

    @property
    def block_size(self) -> int:
        return self._highs.block_size

    @property
    def n(self) -> int:
        """Values learned."""
        return self._highs.n

    def lengthen(self, window_size: int) -> None:
        """See :meth:`BlockedMax.lengthen`."""
        self._highs.lengthen(window_size)
        self._negated_lows.lengthen(window_size)

    def update(self, x: float) -> None:
        self._highs.update(x)
        self._negated_lows.update(-x)

    @property
    def low(self) -> float:
        return -self._negated_lows.max

    @property
    def high(self) -> float:
        return self._highs.max


class EWMean:
    """Exponentially weighted mean, equal to pandas ``ewm(alpha=alpha, adjust=False).mean()``.

    Examples
    --------
    >>> ew = EWMean(alpha=0.5)
    >>> for x in [1.0, 3.0]:
    ...     ew.update(x)
    >>> ew.get()
    2.0
    """

    def __init__(self, alpha: float):
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self._mean = math.nan

    def update(self, x: float) -> None:
        if math.isnan(self._mean):
            self._mean = x
        else:
            self._mean += self.alpha * (x - self._mean)

    def get(self) -> float:
        return self._mean


class EWVar:
    """Exponentially weighted variance (West's incremental form) and its mean.

    Equal to pandas ``ewm(alpha=alpha, adjust=False).var(bias=True)``. With ``warm_up=True`` the
    n-th update uses ``max(alpha, 1 / n)``, so early estimates are the plain running mean and
    variance instead of being dominated by the first value (what a long memory needs).

    Examples
    --------
    >>> ew = EWVar(alpha=0.5)
    >>> for x in [1.0, 3.0]:
    ...     ew.update(x)
    >>> ew.mean, ew.get()
    (2.0, 1.0)
    """

    def __init__(self, alpha: float, warm_up: bool = False):
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.warm_up = warm_up
        self.mean = math.nan
        self._var = 0.0
        self._n = 0

    def update(self, x: float) -> None:
        self._n += 1
        if math.isnan(self.mean):
            self.mean = x
            return
        alpha = max(self.alpha, 1.0 / self._n) if self.warm_up else self.alpha
        delta = x - self.mean
        self.mean += alpha * delta
        self._var = (1 - alpha) * (self._var + alpha * delta * delta)

    def get(self) -> float:
        return self._var if not math.isnan(self.mean) else math.nan

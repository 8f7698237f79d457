"""Half-Space-Trees over streaming shape features of a univariate series."""

from __future__ import annotations

import collections
import math

import numpy as np

from tests.reference.hst import HalfSpaceTrees

__all__ = ["ShapeFeatures", "HalfSpaceTreesDetector"]

FEATURE_NAMES = ("value", "diff", "mean", "std")


class ShapeFeatures:
    """Value, first difference, rolling mean and rolling std, min-max scaled online.

    ``transform_one(x)`` describes ``x`` against what was learned before it; ``learn_one(x)``
    then updates the window and the scaling ranges. Values outside the ranges seen so far fall
    outside [0, 1], which is exactly what makes them easy to isolate.

    Examples
    --------
    >>> features = ShapeFeatures(window_size=3)
    >>> for x in [1.0, 2.0, 3.0]:
    ...     features.learn_one(x)
    >>> {k: round(v, 2) for k, v in features.transform_one(3.0).items()}
    {'value': 1.0, 'diff': 0.0, 'mean': 1.67, 'std': 0.58}
    """

    def __init__(self, window_size: int = 12):
        self.window_size = window_size
        self._window: collections.deque[float] = collections.deque(maxlen=window_size - 1)
        self._last = math.nan
        self._low = [math.inf] * len(FEATURE_NAMES)
        self._high = [-math.inf] * len(FEATURE_NAMES)

    def restart(self) -> None:
        """Forget the window and the last value (after a gap), keep the scaling ranges."""
        self._window.clear()
        self._last = math.nan

    def _raw(self, x: float) -> tuple[float, float, float, float]:
        diff = 0.0 if math.isnan(self._last) else x - self._last
        # The window ending at x: what a batch rolling(window_size) shows at this row.
        window = [*self._window, x]
        n = len(window)
        mean = math.fsum(window) / n
        std = math.sqrt(math.fsum([(v - mean) ** 2 for v in window]) / (n - 1)) if n > 1 else 0.0
        return x, diff, mean, std

    def _scaled(self, raw: tuple[float, ...]) -> np.ndarray:
        return np.array(
            [
                (value - low) / (high - low) if high - low > 0 else 0.5
                for value, low, high in zip(raw, self._low, self._high, strict=True)
            ]
        )

    def transform_one(self, x: float) -> dict[str, float]:
        return dict(zip(FEATURE_NAMES, self.transform_array(x).tolist(), strict=True))

    def transform_array(self, x: float) -> np.ndarray:
        """The features of ``x`` as an array in ``FEATURE_NAMES`` order."""
        return self._scaled(self._raw(x))

    def transform_then_learn(self, x: float) -> np.ndarray:
        """``transform_array(x)`` then ``learn_one(x)``, computing the window statistics once."""
        raw = self._raw(x)
        features = self._scaled(raw)
        self._learn(x, raw)
        return features

    def learn_one(self, x: float) -> None:
        self._learn(x, self._raw(x))

    def _learn(self, x: float, raw: tuple[float, float, float, float]) -> None:
        low, high = self._low, self._high
        for i, value in enumerate(raw):
            if value < low[i]:
                low[i] = value
            if value > high[i]:
                high[i] = value
        self._window.append(x)
        self._last = x


class HalfSpaceTreesDetector:
    """Half-Space-Trees (Tan et al. 2011) on :class:`ShapeFeatures` of a univariate series.

    Parameters
    ----------
    feature_window_size
        Window of the rolling mean and std features.
    n_trees, height, window_size, seed
        Passed to the Half-Space-Trees model.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> detector = HalfSpaceTreesDetector(n_trees=10, height=6, window_size=50, seed=1)
    >>> for _ in range(300):
    ...     detector.learn_one(rng.gauss(10, 1))
    >>> detector.score_one(10.0) < detector.score_one(30.0)
    True
    """

    def __init__(
        self,
        feature_window_size: int = 12,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        seed: int | None = 42,
    ):
        self.feature_window_size = feature_window_size
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self._features = ShapeFeatures(feature_window_size)
        self._trees = HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=window_size, seed=seed
        )

    def score_one(self, x: float) -> float:
        return float(self._trees.score_one(self._features.transform_one(x)))

    def learn_one(self, x: float) -> None:
        self._trees.learn_one(self._features.transform_one(x))
        self._features.learn_one(x)

    def score_then_learn(self, x: float) -> float:
        """``score_one(x)`` then ``learn_one(x)`` with one feature pass and one tree walk."""
        return float(self._trees.score_then_learn(self._features.transform_then_learn(x)))

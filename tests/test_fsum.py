"""``detectors.compiled.fsum`` equals ``math.fsum`` bit for bit, its fast path included: sums
that cancel, ties to even, values over many decades, signed zeros, infinities (the HST shape
window sums with it; the golden outputs depend on every bit)."""

import math

import numpy as np

from detectors.compiled import fsum


def _cases():
    rng = np.random.default_rng(13)
    for n in range(1, 14):
        for _ in range(400):
            kind = rng.integers(5)
            if kind == 0:  # ordinary values, one scale
                values = rng.normal(0, 1, n) * 10.0 ** rng.integers(-5, 10)
            elif kind == 1:  # many decades
                values = rng.normal(0, 1, n) * 10.0 ** rng.integers(-30, 30, n)
            elif kind == 2:  # cancellation
                half = rng.normal(0, 1, n) * 10.0 ** rng.integers(0, 16, n)
                values = np.concatenate([half, -half])[:n] + rng.normal(0, 1e-3, n)
            elif kind == 3:  # halves of a unit in the last place: ties
                values = rng.choice([1.0, -1.0, 2.0**-53, -(2.0**-53), 2.0**-54, 3.0], n)
            else:  # integers, as squared deviations of small counts
                values = rng.integers(0, 5, n).astype(float) ** 2
            yield values
    yield np.array([1e16, 1.0, -1e16])
    yield np.array([1.0, 2.0**-53])
    yield np.array([1.0, 2.0**-53, 2.0**-106])
    yield np.array([-0.0, -0.0])
    yield np.array([1e308, 1e308, -1e308])
    yield np.array([math.inf, 1.0])
    yield np.array([5e-324, 5e-324, 1e-320])


def test_fsum_is_math_fsum():
    partials = np.zeros(32)
    for values in _cases():
        try:
            expected = math.fsum(values)
        except OverflowError:
            continue
        got = fsum(values, len(values), partials)
        assert (
            got == expected
            and math.copysign(1, got) == math.copysign(1, expected)
            or (math.isnan(got) and math.isnan(expected))
        ), (values.tolist(), got, expected)

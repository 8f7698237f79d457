"""The ``forecast`` detector: the forecast surprise (:mod:`detectors.parts.surprise`) beyond
``min_surprise`` standard deviations. It keeps no state of its own.

Examples
--------
>>> from detectors.kernel import Point
>>> c = constants({"min_surprise": 3.0})
>>> raw(None, 0, Point(0.0, 1.0, 4.5, 0.0, 1.0), None, Params(c))
1.5
"""

from __future__ import annotations

import collections

from detectors.compiled import part, py_max

NAME = "forecast"
#: The raw score has no upper bound (its calibration keeps the whole histogram).
BOUND = None
FIELDS = ()
Constants = collections.namedtuple("Constants", ["min_surprise"])
Params = collections.namedtuple("Params", ["forecast"])  # for the example: p.forecast


def constants(params) -> Constants:
    return Constants(min_surprise=float(params["min_surprise"]))


@part
def raw(st, slot, point, scratch, p):
    return py_max(0.0, point.surprise - p.forecast.min_surprise)

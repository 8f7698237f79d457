"""How improbable a run is: a series that repeats a condition (a value equal to the last one, a
value at exactly zero) at a fading rate ``rate`` per point, and whose longest run so far had
``longest`` points, is now in a run of ``run`` points. Each point of the run beyond twice the
longest (:func:`beyond`) is one more event of probability ``rate``: the run's tail probability
is ``rate ** excess``, returned in decades over ``score_decades`` (in [0, 1]).

The rate starts at an even prior, ``(hits + 1) / (points + 2)``, so a young series is never
sure of anything; a series that repeats itself all the time (a constant gauge, replicas, sparse
error counts) has a rate near 1 and no run is surprising; a noisy gauge (CPU, a rate, bytes)
almost never repeats a value exactly, and three equal values in a row are an event.

Examples
--------
>>> round(run_score(2, 0.0, 998.0, 6.0), 3)  # 2 points beyond, at a rate of 1 in 1,000
1.0
>>> round(run_score(1, 0.0, 98.0, 6.0), 3)  # one point beyond, at a rate of 1 in 100
0.333
>>> beyond(5, 3), run_score(beyond(5, 3), 0.0, 98.0, 6.0)  # no longer than twice the longest
(-1, 0.0)
>>> round(run_score(50, 990.0, 1000.0, 6.0), 2)  # a series that always repeats
0.04
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import part, py_max, py_min

#: The constants of a run kind (:mod:`~detectors.parts.stuck`, :mod:`~detectors.parts.outage`):
#: its rates fade over ``window`` points (or ``memory_time`` of the series' time, if longer).
Constants = collections.namedtuple("Constants", ["window", "memory_time", "score_decades"])


def constants(params) -> Constants:
    return Constants(
        window=params["long_window"],
        memory_time=float(params["memory_time"]),
        score_decades=float(params["score_decades"]),
    )


#: A run shorter than this is never surprising: two equal points in a row happen (a counter
#: that did not move in one scrape).
MIN_RUN = 2


@part
def run_score(excess, hits, points, score_decades):
    """Decades (over ``score_decades``) of improbability of ``excess`` points of a run beyond
    what the series showed, for a condition seen ``hits`` times in ``points`` (fading)."""
    if excess <= 0:
        return 0.0
    rate = (hits + 1.0) / (points + 2.0)
    return py_max(0.0, py_min(1.0, -excess * math.log10(rate) / score_decades))


@part
def beyond(run, longest):
    """The points of a run of ``run`` beyond twice the ``longest`` run seen: a run longer than
    ever by a margin (a rate that changes with the time of day stretches its runs at night)."""
    return run - 2 * longest


@part
def fade(count, memory):
    """``count`` faded by one point of a memory of ``memory`` points."""
    return count * (1.0 - 1.0 / memory)

"""The detectors' agreement, recalibrated on the series' own history.

Each detector's tail probability becomes a score in decades of improbability over
``score_decades`` (:func:`~detectors.compiled.decades`). Fisher's method (``"fisher"``) combines
them: two detectors that are both somewhat surprised outweigh one that is very surprised alone;
``"max"`` takes the most surprised detector, Bonferroni-corrected. The detectors see the same
point, so their agreement is not independent evidence: after ``grace_period`` points the
combined evidence is calibrated once more against its own history (the ``recalibration``
calibrator), and the smaller of the two is kept. :func:`combine` returns the evidence unbounded
(above 1 beyond ``score_decades`` decades) so that the recalibrator can rank the strongest
agreements: the score is capped at 1 after it.

Examples
--------
>>> c = constants({"detectors": ("forecast", "hst"), "combination": "fisher",
...                "score_decades": 6.0, "recalibration_grace": 100, "grace_period": 250,
...                "paging_interval": 300.0, "warm_up_time": 86400.0})
>>> round(combine(0.5, 1.0, 2, c), 3)  # two detectors at 0.5 (one in 1,000 each)
0.805
>>> round(combine(0.5, 0.5, 2, c), 3)  # one at 0.5, the other not surprised
0.35
>>> round(combine(1.0, 2.0, 2, c), 3)  # both at 1 (one in a million each): beyond 1
1.757
>>> c = constants({"detectors": ("forecast",), "combination": "fisher", "score_decades": 6.0,
...                "recalibration_grace": 100, "grace_period": 250, "paging_interval": 300.0,
...                "warm_up_time": 86400.0})
>>> round(per_time(0.5, 30.0, c), 3), per_time(0.5, 300.0, c)  # 1 in 1,000 points of 30 s
(0.333, 0.5)
"""

from __future__ import annotations

import collections
import math

from detectors.compiled import evidence_decades, part, py_max
from detectors.layout import Field, state_type
from detectors.parts.sampling import warm_up_points

COMBINATIONS = ("fisher", "max")

FIELDS = (Field("n_seen", "i8", doc="points combined"),)
State = state_type("State", FIELDS, __name__)
Constants = collections.namedtuple(
    "Constants",
    [
        "use_max",
        "bonferroni",
        "score_decades",
        "ln10",
        "recalibrate",
        "grace_period",
        "paging_interval",
        "warm_up_time",
    ],
)


def constants(params) -> Constants:
    n_detectors = len(dict.fromkeys(params["detectors"]))
    score_decades = float(params["score_decades"])
    return Constants(
        use_max=params["combination"] == "max",
        bonferroni=math.log10(n_detectors) / score_decades,
        score_decades=score_decades,
        ln10=math.log(10),
        recalibrate=bool(params["recalibration_grace"]),
        grace_period=params["grace_period"],
        paging_interval=float(params["paging_interval"]),
        warm_up_time=float(params["warm_up_time"]),
    )


@part
def combine(best, total, n_detectors, c):
    """The combined evidence of ``n_detectors`` scores whose highest is ``best`` and whose sum
    is ``total``, in decades over ``score_decades`` (not capped at 1)."""
    if c.use_max:
        return py_max(0.0, best - c.bonferroni)
    # Fisher: -ln of a product of k uniform p-values follows Gamma(k, 1), whose tail is
    # exp(-s) * sum_{i<k} s**i / i!.
    evidence = total * c.score_decades * c.ln10
    term = tail = 1.0
    for k in range(1, n_detectors):
        term *= evidence / k
        tail += term
    # Not clipped at 1: the recalibrator ranks the strongest agreements too
    return evidence_decades(math.exp(-evidence) * tail, c.score_decades)


@part
def needs_recalibration(st, slot, step, c):
    """Counts the point; whether its combined score is recalibrated (learning starts with the
    first calibrated scores: before them every score is 0)."""
    st.n_seen[slot] += 1
    return c.recalibrate and st.n_seen[slot] > warm_up_points(c.grace_period, step, c.warm_up_time)


@part
def per_time(score, step, c):
    """``score`` (decades of a per-point tail probability) as decades of the probability per
    ``paging_interval`` of the series' time: a series sampled every ``step`` seconds, faster
    than that, has ``paging_interval / step`` points, so as many more chances, per interval.
    Slower series keep their per-point score (one point cannot page more than once)."""
    if c.paging_interval <= 0.0 or step <= 0.0 or step >= c.paging_interval:
        return score
    return py_max(0.0, score - math.log10(c.paging_interval / step) / c.score_decades)

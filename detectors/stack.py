"""One series' detector stack: what a point means, computed before the stack learns it.

:class:`DetectorStack` is the compiled stack (:mod:`detectors.kernel`, assembled from
:mod:`detectors.parts`) for one series: a one-slot :class:`~detectors.bank.StackBank`, whose
parameters it takes, with river's protocol of one point at a time returning an
:class:`Assessment`. Many series are scored faster together in a ``StackBank``. The readable
implementation of the same stack, part by part, is the tests' oracle (``tests/reference``).
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np

from detectors.alerting import AlertStatus, AlertTransition
from detectors.bank import OPENED, RESOLVED, BankResults, StackBank
from detectors.kernel import DETECTOR_NAMES
from detectors.parts.alert import REASONS
from detectors.parts.combination import COMBINATIONS

__all__ = ["COMBINATIONS", "DETECTOR_NAMES", "Assessment", "DetectorStack", "assessment_at"]


@dataclasses.dataclass(slots=True)
class Assessment:
    """What the stack concluded about one point, computed before learning it.

    ``anomaly_score`` is how abnormal the point is now: the calibrated combined score, in
    [0, 1] (decades of improbability over ``score_decades``: 0.5 is one in 1,000 per
    ``paging_interval``), continuous. An incident is reported where that score sets a new
    recent high: ``onset_score`` is the score there and 0 elsewhere (what opens an alert, and
    what NAB's scorer rewards).
    """

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
    onset_score: float = 0.0


def assessment_at(
    results: BankResults,
    index: int,
    timestamp: float,
    value: float,
    detector_names: tuple[str, ...] = (),
) -> Assessment:
    """The :class:`Assessment` of point ``index`` of a bank's results (``detector_names``: the
    bank's, to name the detectors of ``results.agreeing``)."""
    transition = None
    code = results.transition.item(index)
    if code:
        transition = AlertTransition(
            AlertStatus.FIRING if code == OPENED else AlertStatus.RESOLVED,
            results.alert_start.item(index),
            results.alert_end.item(index) if code == RESOLVED else None,
            results.peak_score.item(index),
            results.peak_at.item(index),
            REASONS.get(results.resolve_reason.item(index), "") if code == RESOLVED else "",
        )
    return Assessment(
        timestamp=timestamp,
        value=value,
        anomaly_score=results.anomaly_score.item(index),
        onset_score=results.onset_score.item(index),
        alert=bool(results.alert.item(index)),
        zscore=results.zscore.item(index),
        hst_score=results.hst_score.item(index),
        forecast_score=results.forecast_score.item(index),
        expected=results.expected.item(index),
        lower=results.lower.item(index),
        upper=results.upper.item(index),
        agreeing=tuple(
            name for d, name in enumerate(detector_names) if results.agreeing.item(index) >> d & 1
        ),
        transition=transition,
    )


class DetectorStack:
    """The detector stack of one series (see :mod:`detectors.kernel` for what it does).

    Takes the parameters of :class:`~detectors.bank.StackBank`, under the same names and with
    the same defaults; they are readable as attributes.

    Examples
    --------
    >>> import math, random
    >>> rng = random.Random(7)
    >>> stack = DetectorStack(grace_period=200)
    >>> values = [50 + 10 * math.sin(i / 20) + rng.gauss(0, 1) for i in range(800)]
    >>> values[700] = 120  # a spike
    >>> assessed = [stack.process(60.0 * t, v) for t, v in enumerate(values)]
    >>> max(a.anomaly_score for a in assessed[300:700]) < assessed[700].anomaly_score
    True
    >>> assessed[700].onset_score == assessed[700].anomaly_score  # an onset
    True
    >>> assessed[700].alert, round(assessed[700].expected)
    (True, 45)
    """

    __signature__ = inspect.signature(StackBank)

    def __init__(self, **parameters):
        self._bank = StackBank(**parameters)
        self._slot = self._bank.add_series()

    def __getattr__(self, name: str):
        # The parameters, as the bank holds them (only called for names not found otherwise)
        if name.startswith("_") or name not in inspect.signature(StackBank).parameters:
            raise AttributeError(name)
        return getattr(self._bank, name)

    def parameters(self) -> dict:
        """The keyword arguments this stack was built with (``DetectorStack(**p)`` is a twin).

        >>> DetectorStack(threshold=0.5).parameters()["threshold"]
        0.5
        """
        return self._bank.parameters()

    def process(self, timestamp: float, value: float) -> Assessment:
        """Score ``value`` at ``timestamp`` (epoch seconds), then learn it."""
        results = self._bank.process(
            np.array([self._slot]), np.array([timestamp], float), np.array([value], float)
        )
        return assessment_at(results, 0, timestamp, value, self._bank.detector_names)

    def process_many(self, timestamps, values) -> BankResults:
        """:meth:`process` of many points in one call (much faster), as arrays."""
        values = np.asarray(values, dtype=float)
        slots = np.full(len(values), self._slot)
        return self._bank.process(slots, np.asarray(timestamps, dtype=float), values)

    @property
    def firing(self) -> bool:
        return bool(self._bank.export_slot(self._slot)["alert.firing"])

    # A snapshot (detectors.state) or a pickle holds the parameters and the series' state.
    def _snapshot_state(self) -> dict:
        return {"parameters": self.parameters(), "series": self._bank.export_slot(self._slot)}

    @classmethod
    def _from_snapshot_state(cls, data: dict) -> DetectorStack:
        stack = cls.__new__(cls)
        stack._bank = StackBank(**data["parameters"])
        stack._slot = stack._bank.import_slot(data["series"])
        return stack

    def __reduce__(self):
        return DetectorStack._from_snapshot_state, (self._snapshot_state(),)

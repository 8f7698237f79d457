"""Pure online anomaly detectors: no I/O, no clock, no globals.

The stack is made of parts (:mod:`detectors.parts`, one module each: its constants, its
per-series state, its compiled code), assembled into one compiled loop (:mod:`detectors.kernel`)
that :class:`~detectors.bank.StackBank` runs for many series at once and
:class:`DetectorStack` for one. A point is scored before any part learns it.
"""

from detectors.alerting import AlertStatus, AlertTransition
from detectors.stack import COMBINATIONS, DETECTOR_NAMES, Assessment, DetectorStack

__all__ = [
    "COMBINATIONS",
    "DETECTOR_NAMES",
    "AlertStatus",
    "AlertTransition",
    "Assessment",
    "DetectorStack",
]

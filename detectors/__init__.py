"""Pure online anomaly detectors: no I/O, no clock, no globals.

Every detector follows river's protocol: ``score_one(x)`` judges a point against what was
learned before it, ``learn_one(x)`` then learns it.
"""

from detectors.alerting import AlertStatus, AlertTransition, HysteresisAlert
from detectors.calibration import TailProbability
from detectors.forecaster import LagForecaster
from detectors.isolation import HalfSpaceTreesDetector, ShapeFeatures
from detectors.likelihood import AnomalyLikelihood, log_likelihood
from detectors.rolling import EWMean, EWVar, RollingStats
from detectors.seasonal import SeasonalProfile
from detectors.stack import DETECTOR_NAMES, Assessment, DetectorStack
from detectors.zscore import ZScore

__all__ = [
    "DETECTOR_NAMES",
    "AlertStatus",
    "AlertTransition",
    "AnomalyLikelihood",
    "Assessment",
    "DetectorStack",
    "EWMean",
    "EWVar",
    "HalfSpaceTreesDetector",
    "HysteresisAlert",
    "LagForecaster",
    "RollingStats",
    "SeasonalProfile",
    "ShapeFeatures",
    "TailProbability",
    "ZScore",
    "log_likelihood",
]

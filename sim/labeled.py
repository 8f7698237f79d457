"""A metric series with the time windows in which something really went wrong.

The window convention follows NAB (the Numenta Anomaly Benchmark): a window is a closed time
interval ``[start, end]``, and every point whose timestamp falls inside it is labeled 1. Windows
are a little wider than the incident itself so that a detector firing slightly early or slightly
late is still credited.

"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Window", "LabeledSeries", "window_labels"]

Window = tuple[pd.Timestamp, pd.Timestamp]


def window_labels(
    timestamps: Sequence | pd.Series | np.ndarray, windows: Sequence[Window]
) -> np.ndarray:
    """Label each timestamp 1 if it falls inside any window (bounds included), else 0.

    Parameters
    ----------
    timestamps
        Datetime-like values, one per point.
    windows
        ``(start, end)`` pairs.

    Returns
    -------
    numpy.ndarray
        Boolean array with one entry per timestamp.

    Examples
    --------
    >>> ts = pd.date_range("2024-01-01", periods=5, freq="min")
    >>> window_labels(ts, [(ts[1], ts[2])]).astype(int).tolist()
    [0, 1, 1, 0, 0]

    """
    times = pd.to_datetime(pd.Series(timestamps)).to_numpy("datetime64[ns]")
    labels = np.zeros(len(times), dtype=bool)
    for start, end in windows:
        start64 = pd.Timestamp(start).to_datetime64().astype("datetime64[ns]")
        end64 = pd.Timestamp(end).to_datetime64().astype("datetime64[ns]")
        labels |= (times >= start64) & (times <= end64)
    return labels


@dataclass(frozen=True, eq=False)
class LabeledSeries:
    """One metric series, its incident windows and what kind of incident they are.

    Parameters
    ----------
    name
        Identifier, also the CSV file stem when written as a NAB folder.
    frame
        Columns ``timestamp`` (datetime64) and ``value`` (float), sorted by time.
    windows
        ``(start, end)`` incident windows; empty when the series holds no incident.
    kind
        Incident kind, e.g. ``"spike"`` or ``"ddos"``.

    Examples
    --------
    >>> ts = pd.date_range("2024-01-01", periods=4, freq="5min")
    >>> series = LabeledSeries(
    ...     name="cpu",
    ...     frame=pd.DataFrame({"timestamp": ts, "value": [1.0, 9.0, 1.0, 1.0]}),
    ...     windows=[(ts[1], ts[1])],
    ...     kind="spike",
    ... )
    >>> series.labels().astype(int).tolist()
    [0, 1, 0, 0]

    """

    name: str
    frame: pd.DataFrame
    windows: list[Window] = field(default_factory=list)
    kind: str = ""

    def labels(self) -> np.ndarray:
        """Boolean array, True for points inside any window."""
        return window_labels(self.frame["timestamp"], self.windows)

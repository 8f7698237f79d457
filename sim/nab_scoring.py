"""NAB scoring: window-weighted rewards, the threshold sweep and score normalization.

This reproduces NAB v1.1 (``nab/sweeper.py``, ``nab/optimizer.py``, ``nab/runner.py``) with
numpy instead of per-row Python loops. For one file with rows ``i = 0..n-1``:

* Rows before ``min(floor(0.15 * n), 0.15 * 5000)`` are probationary and never scored; a window
  only counts if at least one of its rows is past probation.
* A detection in a window ``[l, r]`` of width ``w = r - l + 1`` at row ``i`` is worth
  ``tp_weight * S(-(r - i + 1) / w) / S(-1)`` where ``S(x) = 2 / (1 + exp(5 x)) - 1`` (and
  ``S(x) = -1`` for ``x >= 3``). Only the best, i.e. the earliest, detection of a window counts;
  a window without any detection costs ``fn_weight``.
* A detection outside windows costs ``fp_weight * S((i - r) / (w - 1))`` relative to the
  closest preceding window ``[l, r]``: close after a window it is nearly free, far after it
  costs up to ``fp_weight``; before the first window it costs ``fp_weight``.
* Rows are detections when their score is at least the threshold. The score is ``onset_score``
  where the results have it (:data:`ONSET_SCORE`), else ``anomaly_score`` (NAB's column, as
  NAB's own detectors write it). Lookout's ``anomaly_score`` is continuous: it stays high
  through an incident, and each of those rows after the window would cost a false positive;
  NAB rewards one detection per incident, at its start, which is what ``onset_score`` holds.

The raw corpus score is the sum over files. It is normalized so that detecting nothing scores 0
(NAB's null detector) and detecting every window at its first row scores 100::

    normalized = 100 * (raw - null) / (perfect - null)
    null = -fn_weight * (windows with a scored row), perfect = tp_weight * windows

The optimizer sweeps every distinct anomaly score of the whole corpus as a threshold (plus
NAB's starting threshold 1.1, which detects nothing) and keeps the best one.

References
----------
Lavin, A. and Ahmad, S., 2015. Evaluating Real-time Anomaly Detection Algorithms -- the
Numenta Anomaly Benchmark. IEEE ICMLA. https://github.com/numenta/NAB
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from sim.nab_corpus import CostProfile, Window

__all__ = [
    "ONSET_SCORE",
    "PROBATION_PERCENT",
    "SWEEP_START_THRESHOLD",
    "CorpusSweep",
    "FileGeometry",
    "detection_scores",
    "nab_scores",
    "normalized_score",
    "onset_column",
    "optimize_threshold",
    "probation_length",
    "scaled_sigmoid",
    "score_corpus",
]

PROBATION_PERCENT = 0.15
# NAB's sweep starts above any anomaly score in [0, 1], where nothing is detected.
SWEEP_START_THRESHOLD = 1.1

#: The column NAB scores when the results have it: the score at an incident's onset, else 0.
ONSET_SCORE = "onset_score"


def onset_column(frame: pd.DataFrame) -> str:
    """The column of ``frame``'s onsets, which NAB scores: ``onset_score`` if there, else
    ``anomaly_score`` (a detector without onsets: its own score).

    >>> onset_column(pd.DataFrame(columns=["anomaly_score", "onset_score"]))
    'onset_score'
    >>> onset_column(pd.DataFrame(columns=["timestamp", "anomaly_score"]))
    'anomaly_score'
    """
    return ONSET_SCORE if ONSET_SCORE in frame else "anomaly_score"


def scaled_sigmoid(position: float | np.ndarray) -> float | np.ndarray:
    """NAB's reward curve ``2 / (1 + exp(5 x)) - 1``, set to -1 from ``x >= 3`` on.

    -1 is the start of a window (reward close to +1), 0 its end, positive positions lie after it.

    Examples
    --------
    >>> print(np.round(scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 1.0, 3.0])), 5))
    [ 0.98661  0.84828  0.      -0.98661 -1.     ]
    """
    position = np.asarray(position, dtype=float)
    with np.errstate(over="ignore"):
        curve = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    result = np.where(position >= 3.0, -1.0, curve)
    return float(result) if result.ndim == 0 else result


def probation_length(n_rows: int, probation_percent: float = PROBATION_PERCENT) -> float:
    """Rows at the start of a file that are never scored: ``min(floor(p * n), p * 5000)``.

    Examples
    --------
    >>> probation_length(4032), probation_length(10_000)
    (604, 750.0)
    """
    return min(math.floor(probation_percent * n_rows), probation_percent * 5000)


def _window_rows(
    stamps: np.ndarray, start: int, end: int, search_from: int
) -> tuple[int, int] | tuple[None, None]:
    """First and last row of the window ``[start, end]`` (nanoseconds), looking from row
    ``search_from`` on in row order (see `FileGeometry.from_timestamps`).

    >>> stamps = np.array([0, 5, 10, 15, 5, 10, 15, 20])  # the clock steps back after row 3
    >>> _window_rows(stamps, 10, 15, 0), _window_rows(stamps, 10, 15, 3)
    ((2, 3), (5, 6))
    >>> _window_rows(stamps, 6, 12, 0), _window_rows(stamps, 21, 30, 0)
    ((2, 2), (None, None))
    """
    rest = stamps[search_from:]
    exact = np.flatnonzero(rest == start)
    if exact.size:
        first = int(exact[0])
    else:
        inside = np.flatnonzero((rest >= start) & (rest <= end))
        if not inside.size:
            return None, None
        first = int(inside[0])
    after = rest[first:]
    # A repeated end timestamp (NAB has a few, from clock changes) ends the window at its
    # first occurrence, like NAB's ``timestamps.index(end)``.
    ends = np.flatnonzero(after == end)
    if ends.size:
        last = first + int(ends[0])
    else:
        beyond = np.flatnonzero(after > end)
        last = first + (int(beyond[0]) - 1 if beyond.size else len(after) - 1)
    return search_from + first, search_from + last


@dataclasses.dataclass(frozen=True)
class FileGeometry:
    """Where each row of a file sits relative to its windows; independent of any detector.

    Attributes
    ----------
    window_of_row
        Index of the row's window in ``windows``, -1 outside windows.
    reward
        Unweighted value of a detection at each row: ``S(pos) / S(-1)`` inside a window (to be
        multiplied by ``tp_weight``), ``S(pos)`` outside (to be multiplied by ``fp_weight``).
    scored
        False for probationary rows.
    windows
        The windows, sorted, as (first row, last row) index pairs.

    Examples
    --------
    >>> stamps = pd.date_range("2024-01-01", periods=8, freq="5min")
    >>> geometry = FileGeometry.from_timestamps(stamps, [(stamps[2], stamps[4])],
    ...                                         probation_percent=0.0)
    >>> geometry.window_of_row.tolist()
    [-1, -1, 0, 0, 0, -1, -1, -1]
    >>> print(np.round(geometry.reward, 3))
    [-1.    -1.     1.     0.944  0.692 -0.848 -0.987 -0.999]
    """

    window_of_row: np.ndarray
    reward: np.ndarray
    scored: np.ndarray
    windows: tuple[tuple[int, int], ...]

    @classmethod
    def from_timestamps(
        cls,
        timestamps: Iterable,
        windows: Iterable[Window],
        probation_percent: float = PROBATION_PERCENT,
    ) -> FileGeometry:
        """Locate the windows in the rows and compute each row's reward.

        Windows are found in row order, as NAB's sweeper walks the file: a window starts at the
        first row (after the previous window's start) whose timestamp is its start, and ends at
        the first row from there whose timestamp is its end; every row in between is inside
        it, whatever its timestamp. So a file whose clock steps back once (NAB's
        ``realKnownCause/machine_temperature_system_failure.csv``) is scored as NAB scores it.
        Ends that are no row's timestamp (labels written by hand) fall back to the first row
        at or after the start and the last row before the first one past the end. Windows
        must each cover a row and must not overlap.
        """
        stamps = pd.DatetimeIndex(timestamps).as_unit("ns").asi8
        n_rows = len(stamps)
        bounds: list[tuple[int, int]] = []
        for start, end in sorted(windows):
            search_from = bounds[-1][0] + 1 if bounds else 0
            first, last = _window_rows(
                stamps, pd.Timestamp(start).value, pd.Timestamp(end).value, search_from
            )
            if first is None:
                raise ValueError(f"window ({start}, {end}) covers no row")
            if bounds and first <= bounds[-1][1]:
                raise ValueError(f"window ({start}, {end}) overlaps the previous window")
            bounds.append((first, last))

        rows = np.arange(n_rows)
        window_of_row = np.full(n_rows, -1, dtype=np.int64)
        reward = np.empty(n_rows, dtype=float)
        firsts = np.array([first for first, _ in bounds], dtype=np.int64)
        lasts = np.array([last for _, last in bounds], dtype=np.int64)
        widths = lasts - firsts + 1

        # The last window starting at or before each row; the row is inside it if not past it.
        candidate = np.searchsorted(firsts, rows, side="right") - 1
        has_candidate = candidate >= 0
        inside = np.zeros(n_rows, dtype=bool)
        inside[has_candidate] = rows[has_candidate] <= lasts[candidate[has_candidate]]
        window_of_row[inside] = candidate[inside]

        # NAB's "+ 1" means the last row of a window still earns a small positive reward.
        owner = window_of_row[inside]
        position = -(lasts[owner] - rows[inside] + 1) / widths[owner]
        reward[inside] = scaled_sigmoid(position) / scaled_sigmoid(-1.0)

        # Outside: the closest window ending before the row (none -> position 3, reward -1).
        outside = ~inside
        previous = np.searchsorted(lasts, rows[outside], side="left") - 1
        position = np.full(previous.shape, 3.0)
        after = previous >= 0
        with np.errstate(divide="ignore"):
            # A one-row window divides by zero in NAB; here it makes any later FP cost in full.
            position[after] = (rows[outside][after] - lasts[previous[after]]) / (
                widths[previous[after]] - 1.0
            )
        reward[outside] = scaled_sigmoid(position)

        scored = rows >= probation_length(n_rows, probation_percent)
        return cls(window_of_row, reward, scored, tuple(bounds))

    @property
    def n_scored_windows(self) -> int:
        """Windows with at least one row past probation: the ones that count."""
        return len(np.unique(self.window_of_row[self.scored & (self.window_of_row >= 0)]))


@dataclasses.dataclass(frozen=True)
class CorpusSweep:
    """The scored rows of a whole corpus, ready to score any threshold or sweep all of them.

    Build it once per detector with `CorpusSweep.from_results`; scoring several profiles and
    thresholds then reuses the same arrays.

    Attributes
    ----------
    anomaly_score
        Anomaly score of every scored (non-probationary) row of every file.
    window_id
        Corpus-wide window number of each of those rows, -1 outside windows.
    reward
        Unweighted reward of each of those rows (see `FileGeometry`).
    n_scored_windows
        Windows with at least one scored row (each costs ``fn_weight`` when missed).
    n_windows
        All windows of the scored files (the perfect score counts them all, as NAB does).

    Examples
    --------
    >>> stamps = pd.date_range("2024-01-01", periods=20, freq="5min")
    >>> scores = np.zeros(20)
    >>> scores[10] = 0.9  # inside the window [8, 11]
    >>> scores[17] = 0.6  # six rows after it
    >>> results = {"a.csv": pd.DataFrame({"timestamp": stamps, "anomaly_score": scores})}
    >>> sweep = CorpusSweep.from_results(results, {"a.csv": [(stamps[8], stamps[11])]})
    >>> profile = CostProfile(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)
    >>> round(sweep.raw_score(profile, 0.5), 4), round(sweep.normalize(-1.0, profile), 1)
    (0.7498, 0.0)
    >>> thresholds, raw_scores = sweep.sweep(profile)
    >>> thresholds.tolist(), np.round(raw_scores, 4).tolist()
    ([1.1, 0.9, 0.6, 0.0], [-1.0, 0.8598, 0.7498, -0.3857])
    >>> threshold, best = sweep.optimize(profile)
    >>> threshold, round(best, 4)
    (0.9, 0.8598)
    """

    anomaly_score: np.ndarray
    window_id: np.ndarray
    reward: np.ndarray
    n_scored_windows: int
    n_windows: int

    @classmethod
    def from_results(
        cls,
        results: Mapping[str, pd.DataFrame],
        windows: Mapping[str, list[Window]],
        probation_percent: float = PROBATION_PERCENT,
        score_column: str | None = None,
    ) -> CorpusSweep:
        """Gather the scored rows of every result file.

        Parameters
        ----------
        results
            Per relative data path, the detector's rows with ``timestamp`` and ``score_column``,
            one per data row and in the same order.
        windows
            Label windows per relative data path; files missing here have no windows.
        probation_percent
            Share of each file's first rows that is not scored.
        score_column
            Column holding the anomaly scores (None: :func:`onset_column` of each frame).
        """
        scores, window_ids, rewards = [], [], []
        n_scored_windows = n_windows = 0
        for relpath, frame in results.items():
            geometry = FileGeometry.from_timestamps(
                frame["timestamp"], windows.get(relpath, []), probation_percent
            )
            column = score_column or onset_column(frame)
            file_scores = frame[column].to_numpy(dtype=float)
            if np.isnan(file_scores).any():
                raise ValueError(f"{relpath}: {column} has missing values")
            scored = geometry.scored
            scores.append(file_scores[scored])
            window_of_row = geometry.window_of_row[scored]
            window_ids.append(np.where(window_of_row >= 0, window_of_row + n_windows, -1))
            rewards.append(geometry.reward[scored])
            n_scored_windows += geometry.n_scored_windows
            n_windows += len(geometry.windows)
        return cls(
            anomaly_score=np.concatenate(scores) if scores else np.empty(0),
            window_id=np.concatenate(window_ids) if window_ids else np.empty(0, dtype=np.int64),
            reward=np.concatenate(rewards) if rewards else np.empty(0),
            n_scored_windows=n_scored_windows,
            n_windows=n_windows,
        )

    def null_score(self, profile: CostProfile) -> float:
        """Raw score of detecting nothing: every window that counts is missed."""
        return -profile.fn_weight * self.n_scored_windows

    def perfect_score(self, profile: CostProfile) -> float:
        """Raw score of detecting every window at its first row and nothing else."""
        return profile.tp_weight * self.n_windows

    def normalize(self, raw_score: float, profile: CostProfile) -> float:
        """Map a raw score to NAB's scale: null detector 0, perfect detector 100."""
        null = self.null_score(profile)
        span = self.perfect_score(profile) - null
        if span == 0:
            raise ValueError("the scored files have no windows: a normalized score is undefined")
        return 100.0 * (raw_score - null) / span

    def raw_score(self, profile: CostProfile, threshold: float) -> float:
        """Raw NAB score when rows with ``anomaly_score >= threshold`` are detections."""
        detected = self.anomaly_score >= threshold
        false_positives = detected & (self.window_id < 0)
        fp_total = profile.fp_weight * self.reward[false_positives].sum()
        hits = detected & (self.window_id >= 0)
        # A detected window scores its best (earliest) detection, never less than a miss.
        best = np.full(self.n_windows, -np.inf)
        np.maximum.at(best, self.window_id[hits], profile.tp_weight * self.reward[hits])
        window_total = np.maximum(best[np.isfinite(best)], -profile.fn_weight).sum()
        n_missed = self.n_scored_windows - np.isfinite(best).sum()
        return float(window_total + fp_total - profile.fn_weight * n_missed)

    def sweep(self, profile: CostProfile) -> tuple[np.ndarray, np.ndarray]:
        """Raw score at every threshold NAB's sweeper visits, from the highest down.

        Returns
        -------
        thresholds, raw_scores
            ``thresholds`` starts with 1.1 (nothing detected, unless a score equals 1.1) and
            continues with each distinct anomaly score in decreasing order; ``raw_scores[k]``
            is the score when rows with ``anomaly_score >= thresholds[k]`` are detections.
        """
        order = np.argsort(-self.anomaly_score, kind="stable")
        scores = self.anomaly_score[order]
        window_id = self.window_id[order]
        reward = self.reward[order]

        # Each row adds its FP cost, or raises its window's running best above -fn_weight.
        gain = np.where(window_id < 0, profile.fp_weight * reward, 0.0)
        in_window = np.flatnonzero(window_id >= 0)
        if in_window.size:
            by_window = in_window[np.argsort(window_id[in_window], kind="stable")]
            ids = window_id[by_window]
            value = np.maximum(profile.tp_weight * reward[by_window], -profile.fn_weight)
            best = pd.Series(value).groupby(ids).cummax().to_numpy()
            starts = np.r_[True, ids[1:] != ids[:-1]]
            before = np.where(starts, -profile.fn_weight, np.r_[0.0, best[:-1]])
            gain[by_window] = best - before

        totals = self.null_score(profile) + np.cumsum(gain)
        # A threshold's score is the total after the last row with that anomaly score.
        last_of_value = np.r_[scores[1:] != scores[:-1], True] if scores.size else np.empty(0, bool)
        thresholds = scores[last_of_value]
        raw_scores = totals[last_of_value]
        if not scores.size or scores[0] != SWEEP_START_THRESHOLD:
            thresholds = np.r_[SWEEP_START_THRESHOLD, thresholds]
            raw_scores = np.r_[self.null_score(profile), raw_scores]
        return thresholds, raw_scores

    def optimize(self, profile: CostProfile) -> tuple[float, float]:
        """Best threshold of the sweep and its raw score (the highest threshold among ties)."""
        thresholds, raw_scores = self.sweep(profile)
        best = int(np.argmax(raw_scores))
        return float(thresholds[best]), float(raw_scores[best])


def score_corpus(
    results: Mapping[str, pd.DataFrame],
    windows: Mapping[str, list[Window]],
    profile: CostProfile,
    threshold: float,
    score_column: str | None = None,
) -> float:
    """Raw NAB score of a detector's results at a fixed threshold (summed over files).

    Examples
    --------
    >>> stamps = pd.date_range("2024-01-01", periods=10, freq="5min")
    >>> frame = pd.DataFrame({"timestamp": stamps, "anomaly_score": np.zeros(10)})
    >>> score_corpus({"a.csv": frame}, {"a.csv": [(stamps[5], stamps[6])]}, CostProfile(), 0.5)
    -1.0
    """
    sweep = CorpusSweep.from_results(results, windows, score_column=score_column)
    return sweep.raw_score(profile, threshold)


def normalized_score(
    results: Mapping[str, pd.DataFrame],
    windows: Mapping[str, list[Window]],
    profile: CostProfile,
    threshold: float,
    score_column: str | None = None,
) -> float:
    """NAB score on the 0 (detects nothing) to 100 (perfect) scale at a fixed threshold.

    Examples
    --------
    >>> stamps = pd.date_range("2024-01-01", periods=10, freq="5min")
    >>> perfect = np.zeros(10)
    >>> perfect[5] = 1.0  # the first row of the window
    >>> frame = pd.DataFrame({"timestamp": stamps, "anomaly_score": perfect})
    >>> normalized_score({"a.csv": frame}, {"a.csv": [(stamps[5], stamps[6])]}, CostProfile(), 0.5)
    100.0
    """
    sweep = CorpusSweep.from_results(results, windows, score_column=score_column)
    return sweep.normalize(sweep.raw_score(profile, threshold), profile)


def optimize_threshold(
    results: Mapping[str, pd.DataFrame],
    windows: Mapping[str, list[Window]],
    profile: CostProfile,
    score_column: str | None = None,
) -> tuple[float, float]:
    """Corpus-wide best threshold and its normalized score, found by NAB's sweep.

    Examples
    --------
    >>> stamps = pd.date_range("2024-01-01", periods=10, freq="5min")
    >>> scores = np.array([0, 0, 0, 0, 0.2, 0.4, 0.3, 0, 0.1, 0])
    >>> frame = pd.DataFrame({"timestamp": stamps, "anomaly_score": scores})
    >>> threshold, score = optimize_threshold(
    ...     {"a.csv": frame}, {"a.csv": [(stamps[5], stamps[6])]}, CostProfile())
    >>> threshold, round(score, 1)
    (0.4, 100.0)
    """
    sweep = CorpusSweep.from_results(results, windows, score_column=score_column)
    threshold, raw = sweep.optimize(profile)
    return threshold, sweep.normalize(raw, profile)


def nab_scores(
    results: Mapping[str, pd.DataFrame],
    windows: Mapping[str, list[Window]],
    profiles: Mapping[str, CostProfile],
    threshold: float | Mapping[str, float] | None = None,
    score_column: str | None = None,
) -> dict[str, dict[str, float]]:
    """Normalized NAB score per profile, with the threshold used.

    Parameters
    ----------
    results, windows
        As in `CorpusSweep.from_results`.
    profiles
        Cost profiles by name, e.g. from `load_profiles`.
    threshold
        None to optimize the threshold per profile, one threshold for all profiles, or a
        threshold per profile name (NAB's ``config/thresholds.json``).
    score_column
        Column holding the anomaly scores (None: ``onset_score`` where a frame has it, else
        ``anomaly_score``; see :func:`onset_column`).

    Returns
    -------
    dict
        ``{profile: {"score": normalized, "raw_score": raw, "threshold": threshold}}``.

    Examples
    --------
    >>> stamps = pd.date_range("2024-01-01", periods=10, freq="5min")
    >>> scores = np.zeros(10)
    >>> scores[5] = 1.0  # the first row of the window
    >>> frame = pd.DataFrame({"timestamp": stamps, "anomaly_score": scores})
    >>> windows = {"a.csv": [(stamps[5], stamps[6])]}
    >>> nab_scores({"a.csv": frame}, windows, {"standard": CostProfile()})
    {'standard': {'score': 100.0, 'raw_score': 1.0, 'threshold': 1.0}}
    >>> nab_scores({"a.csv": frame}, windows, {"standard": CostProfile()}, threshold=1.05)
    {'standard': {'score': 0.0, 'raw_score': -1.0, 'threshold': 1.05}}
    """
    sweep = CorpusSweep.from_results(results, windows, score_column=score_column)
    scores = {}
    for name, profile in profiles.items():
        if threshold is None:
            used, raw = sweep.optimize(profile)
        else:
            used = float(threshold[name] if isinstance(threshold, Mapping) else threshold)
            raw = sweep.raw_score(profile, used)
        scores[name] = {
            "score": sweep.normalize(raw, profile),
            "raw_score": raw,
            "threshold": used,
        }
    return scores


def detection_scores(
    results: Mapping[str, pd.DataFrame],
    windows: Mapping[str, list[Window]],
    profiles: Mapping[str, CostProfile],
    column: str = "alert",
    openings: bool = False,
) -> dict[str, dict[str, float]]:
    """Normalized NAB score per profile of a 0/1 detection column (rows with value 1 alert).

    Equivalent to `nab_scores` at threshold 0.5 on that column. With ``openings``, a run of 1s
    detects once, at its first row: an alert that stays open through its incident is one page,
    not one false positive per row it lasts beyond the window.

    Examples
    --------
    >>> stamps = pd.date_range("2024-01-01", periods=10, freq="5min")
    >>> alerts = np.zeros(10, dtype=int)
    >>> alerts[5] = 1
    >>> frame = pd.DataFrame({"timestamp": stamps, "alert": alerts})
    >>> detection_scores({"a.csv": frame}, {"a.csv": [(stamps[5], stamps[6])]},
    ...                  {"standard": CostProfile()})["standard"]["score"]
    100.0
    >>> alerts[5:9] = 1  # open on into the normal rows after the window
    >>> round(detection_scores({"a.csv": frame.assign(alert=alerts)},
    ...                        {"a.csv": [(stamps[5], stamps[6])]},
    ...                        {"standard": CostProfile()}, openings=True)["standard"]["score"])
    100
    """

    def flags(frame: pd.DataFrame) -> np.ndarray:
        on = frame[column].to_numpy() == 1
        return on & ~np.r_[False, on[:-1]] if openings else on

    as_scores = {
        relpath: pd.DataFrame(
            {"timestamp": frame["timestamp"], "anomaly_score": flags(frame).astype(float)}
        )
        for relpath, frame in results.items()
    }
    return nab_scores(as_scores, windows, profiles, threshold=0.5)

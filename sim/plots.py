"""Figures for postmortem reports: one replayed series, forecast quality, and label agreement.

Every function builds and returns a :class:`matplotlib.figure.Figure` attached to an Agg canvas.
Nothing goes through ``pyplot``, so no global figure registry fills up, no display is needed, and
the caller decides where the pixels go (:func:`figure_png` renders them to PNG bytes).

Sizes are fixed in pixels (``figsize * DPI``) rather than trimmed with ``bbox_inches="tight"``,
so a report page can lay images out without knowing their content.

"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn import metrics as skmetrics

from sim.pages import alert_runs

__all__ = [
    "DPI",
    "figure_png",
    "plot_series",
    "plot_forecast_vs_actual",
    "plot_confusion_matrix",
    "plot_roc_curve",
    "plot_pr_curve",
]

DPI = 100

WINDOW_COLOR = "#f4b400"
ALERT_COLOR = "#d62728"
BAND_COLOR = "#1f77b4"
VALUE_COLOR = "#222222"
EXPECTED_COLOR = "#1f77b4"
SCORE_COLOR = "#6a3d9a"
THRESHOLD_COLOR = "#d62728"

Window = tuple[pd.Timestamp, pd.Timestamp]


def _new_figure(width_px: int, height_px: int) -> Figure:
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes at its own size.

    The ``Software`` metadata entry is dropped: it holds a URL, and the reports built from these
    bytes promise to contain no external references.

    Examples
    --------
    >>> fig = _new_figure(200, 100)
    >>> png = figure_png(fig)
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True

    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _shade_windows(ax, windows: Sequence[Window], label: str | None) -> None:
    for i, (start, end) in enumerate(windows):
        ax.axvspan(
            start, end, color=WINDOW_COLOR, alpha=0.25, lw=0, label=label if i == 0 else None
        )


def _shade_alerts(ax, runs, min_width: float, label: str | None) -> None:
    # One collection instead of one patch per run: flapping detectors can produce thousands.
    # Runs are widened to ``min_width`` (in days) so a one-sample alert on a two-week axis is
    # still visible; the onset markers keep the exact start.
    if not runs:
        return
    ranges = []
    for start, end in runs:
        left = mdates.date2num(start)
        ranges.append((left, max(mdates.date2num(end) - left, min_width)))
    ax.broken_barh(
        ranges,
        (0, 1),
        transform=ax.get_xaxis_transform(),
        facecolors=ALERT_COLOR,
        alpha=0.3,
        lw=0,
        label=label,
    )


def _fit_to_values(ax, values: pd.Series) -> None:
    """Vertical limits from the values alone, with a margin (nothing when none is finite)."""
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return
    low, high = float(finite.min()), float(finite.max())
    margin = 0.08 * (high - low) if high > low else max(abs(high) * 0.05, 1.0)
    ax.set_ylim(low - margin, high + margin)


def plot_series(
    frame: pd.DataFrame,
    name: str,
    windows: Sequence[Window] | None = None,
    threshold: float | None = None,
    width_px: int = 1400,
    height_px: int = 600,
) -> Figure:
    """Value with forecast band, labeled windows and alerts above; anomaly score below.

    Parameters
    ----------
    frame
        Replay result with ``timestamp``, ``value``, ``anomaly_score`` and ``alert`` columns, and
        optionally ``expected``, ``lower`` and ``upper`` (drawn when present and not all NaN).
    name
        Series name, used as the title.
    windows
        Labeled incident windows, shaded in both panels; bounds may be strings. ``None`` means
        the series is unlabeled and an empty sequence that it is labeled healthy throughout;
        the title says which.
    threshold
        Drawn as a horizontal line on the score panel.
    width_px, height_px
        Size of the rendered image.

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "timestamp": pd.date_range("2024-01-01", periods=50, freq="5min"),
    ...     "value": np.linspace(0, 1, 50),
    ...     "anomaly_score": np.linspace(0, 1, 50),
    ...     "alert": [0] * 45 + [1] * 5,
    ... })
    >>> fig = plot_series(frame, "demo", threshold=0.9)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['value', 'anomaly score']
    >>> fig.get_suptitle()
    'demo (unlabeled)'

    """
    fig = _new_figure(width_px, height_px)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    t = pd.to_datetime(frame["timestamp"])
    if windows is None:
        status, windows = "unlabeled", []
    else:
        windows = [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in windows]
        status = f"{len(windows)} labeled incident window{'s' * (len(windows) != 1)}"
    runs = alert_runs(t, frame["alert"]) if "alert" in frame else []
    span_days = (t.max() - t.min()) / pd.Timedelta(days=1) if len(t) else 0.0
    min_width = 0.003 * span_days

    _shade_windows(top, windows, "labeled incident window")
    _shade_alerts(top, runs, min_width, "alert firing")
    if {"lower", "upper"} <= set(frame.columns) and frame["lower"].notna().any():
        top.fill_between(
            t,
            frame["lower"],
            frame["upper"],
            color=BAND_COLOR,
            alpha=0.15,
            lw=0,
            label="forecast band",
        )
    # The value is drawn last and thickest, over the band and the expected line, and sets the
    # axis: a forecast that overshoots in warm-up must not squash the value into a flat line.
    if "expected" in frame and frame["expected"].notna().any():
        top.plot(
            t,
            frame["expected"],
            color=EXPECTED_COLOR,
            lw=0.9,
            ls="--",
            alpha=0.8,
            label="expected",
            zorder=2,
        )
    top.plot(t, frame["value"], color=VALUE_COLOR, lw=1.0, label="value", zorder=3)
    _fit_to_values(top, frame["value"])
    if runs:
        onsets = frame.loc[t.isin([start for start, _ in runs])]
        top.scatter(
            pd.to_datetime(onsets["timestamp"]),
            onsets["value"],
            color=ALERT_COLOR,
            marker="v",
            s=36,
            zorder=5,
            label="alert onset",
        )
    top.set_ylabel("value")
    top.grid(alpha=0.3)

    _shade_windows(bottom, windows, None)
    _shade_alerts(bottom, runs, min_width, None)
    bottom.plot(t, frame["anomaly_score"], color=SCORE_COLOR, lw=0.8, label="anomaly score")
    if threshold is not None:
        bottom.axhline(
            threshold, color=THRESHOLD_COLOR, ls="--", lw=1.2, label=f"threshold = {threshold:g}"
        )
    bottom.set_ylim(-0.02, 1.05)
    bottom.set_ylabel("anomaly score")
    bottom.set_xlabel("time")
    bottom.grid(alpha=0.3)

    if len(t):
        bottom.set_xlim(t.min(), t.max())  # windows beyond the data must not widen the axis
    locator = mdates.AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.suptitle(f"{name} ({status})", fontsize=13)
    # One legend under both panels, so nothing covers the data.
    handles, labels = [], []
    for ax in (top, bottom):
        more_handles, more_labels = ax.get_legend_handles_labels()
        handles += more_handles
        labels += more_labels
    fig.legend(
        handles, labels, loc="outside lower center", ncols=len(labels), fontsize=10, frameon=False
    )
    return fig


def plot_forecast_vs_actual(
    expected: np.ndarray,
    actual: np.ndarray,
    alert: np.ndarray | None = None,
    scope: str = "all series",
    max_points: int = 5000,
    width_px: int = 1400,
    height_px: int = 600,
) -> Figure:
    """Scatter of expected against actual values next to a histogram of residuals.

    MAE and RMSE in the title use every row where both values are finite; only the scatter is
    thinned to about ``max_points``: evenly spaced rows plus the largest misses and the extreme
    values, so outliers are never dropped and the picture is deterministic.

    Parameters
    ----------
    expected, actual
        Forecasts and observed values, aligned.
    alert
        Optional 0/1 flags; alerting points are drawn in red.
    scope
        What the rows cover, shown in the title (a series name, or "all series").
    max_points
        Cap on scattered points.

    Examples
    --------
    >>> fig = plot_forecast_vs_actual(np.array([1.0, 2.0, np.nan]), np.array([1.0, 4.0, 3.0]))
    >>> fig.get_suptitle()
    'Forecast vs actual, all series: MAE = 1, RMSE = 1.414 (n = 2)'

    """
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    flags = np.zeros(len(actual), bool) if alert is None else np.asarray(alert) > 0
    known = np.isfinite(expected) & np.isfinite(actual)
    expected, actual, flags = expected[known], actual[known], flags[known]
    residual = actual - expected
    mae = float(np.mean(np.abs(residual))) if len(residual) else float("nan")
    rmse = float(np.sqrt(np.mean(residual**2))) if len(residual) else float("nan")

    fig = _new_figure(width_px, height_px)
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    fig.suptitle(
        f"Forecast vs actual, {scope}: MAE = {mae:.4g}, RMSE = {rmse:.4g} (n = {len(residual)})",
        fontsize=13,
    )

    shown = _thinned(expected, actual, max_points)
    quiet, loud = shown[~flags[shown]], shown[flags[shown]]
    left.scatter(expected[quiet], actual[quiet], s=6, alpha=0.4, color=BAND_COLOR, label="point")
    if len(loud):
        left.scatter(
            expected[loud],
            actual[loud],
            s=10,
            alpha=0.8,
            color=ALERT_COLOR,
            label="point during alert",
        )
    if len(actual):
        lo = float(min(expected.min(), actual.min()))
        hi = float(max(expected.max(), actual.max()))
        left.plot([lo, hi], [lo, hi], color="#555555", ls="--", lw=1, label="actual = expected")
    left.set_xlabel("expected")
    left.set_ylabel("actual")
    left.legend(loc="best", fontsize=9)
    left.grid(alpha=0.3)

    # A handful of huge misses would squeeze the bulk into one bin; they are in the scatter.
    low, high = np.percentile(residual, [0.5, 99.5]) if len(residual) else (0.0, 0.0)
    right.hist(
        residual, bins=60, range=(low, high) if high > low else None, color=BAND_COLOR, alpha=0.8
    )
    right.axvline(0, color="#555555", ls="--", lw=1)
    left.set_title("Expected vs actual (every outlier kept, the rest thinned)", fontsize=11)
    right.set_title("Residuals (actual - expected), central 99%", fontsize=11)
    right.set_xlabel("residual")
    right.set_ylabel("count")
    right.grid(alpha=0.3)
    return fig


def _thinned(expected: np.ndarray, actual: np.ndarray, max_points: int) -> np.ndarray:
    """Evenly spaced row indices plus the rows a reader must see: the worst misses and extremes."""
    n = len(actual)
    if n <= max_points:
        return np.arange(n)
    n_worst = max_points // 10
    worst = np.argsort(np.abs(actual - expected))[-n_worst:]
    extremes = [expected.argmin(), expected.argmax(), actual.argmin(), actual.argmax()]
    even = np.linspace(0, n - 1, max_points - n_worst - len(extremes)).astype(int)
    return np.unique(np.concatenate([even, worst, extremes]))


def plot_confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, width_px: int = 600, height_px: int = 520
) -> Figure:
    """2x2 heatmap of labels (rows) against alerts (columns), with counts and percentages.

    Percentages are of all labeled points, so the four cells add up to 100%.

    Examples
    --------
    >>> fig = plot_confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    >>> sorted(t.get_text() for t in fig.axes[0].texts)
    ['0\\n(0.0%)', '1\\n(25.0%)', '1\\n(25.0%)', '2\\n(50.0%)']

    """
    counts = skmetrics.confusion_matrix(y_true, y_pred, labels=[0, 1])
    total = max(int(counts.sum()), 1)
    fig = _new_figure(width_px, height_px)
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, label="points")
    threshold = counts.max() / 2
    for (row, col), count in np.ndenumerate(counts):
        ax.text(
            col,
            row,
            f"{count}\n({100 * count / total:.1f}%)",
            ha="center",
            va="center",
            fontsize=13,
            color="white" if count > threshold else "black",
        )
    ticks = ["healthy", "incident"]
    ax.set_xticks([0, 1], ticks)
    ax.set_yticks([0, 1], ticks)
    ax.set_xlabel("alert (predicted)")
    ax.set_ylabel("label (actual)")
    ax.set_title("Labels vs alerts, per point")
    return fig


def _operating_point(y_true, scores, threshold):
    predicted = scores >= threshold
    positives = max(int(y_true.sum()), 1)
    negatives = max(int((~y_true.astype(bool)).sum()), 1)
    true_pos = int((predicted & (y_true == 1)).sum())
    false_pos = int((predicted & (y_true == 0)).sum())
    precision = true_pos / max(true_pos + false_pos, 1)
    return false_pos / negatives, true_pos / positives, precision


def plot_roc_curve(
    y_true: np.ndarray,
    scores: np.ndarray,
    threshold: float | None = None,
    score_label: str = "anomaly score",
    width_px: int = 600,
    height_px: int = 600,
) -> Figure:
    """ROC curve of per-point labels against anomaly scores, AUC in the legend.

    Both classes must be present. With a threshold, its operating point is marked.
    ``score_label`` names the score in the title.

    Examples
    --------
    >>> fig = plot_roc_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> fig.axes[0].get_legend().get_texts()[0].get_text()
    'ROC (AUC = 0.750)'

    """
    y_true = np.asarray(y_true).astype(int)
    scores = np.asarray(scores, dtype=float)
    fpr, tpr, _ = skmetrics.roc_curve(y_true, scores)
    auc = skmetrics.roc_auc_score(y_true, scores)
    fig = _new_figure(width_px, height_px)
    ax = fig.subplots()
    ax.plot(fpr, tpr, color=SCORE_COLOR, lw=2, label=f"ROC (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="#888888", ls="--", lw=1, label="chance")
    if threshold is not None:
        x, y, _ = _operating_point(y_true, scores, threshold)
        ax.scatter([x], [y], color=THRESHOLD_COLOR, zorder=5, label=f"threshold = {threshold:g}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC: labels vs {score_label}, per point")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def plot_pr_curve(
    y_true: np.ndarray,
    scores: np.ndarray,
    threshold: float | None = None,
    score_label: str = "anomaly score",
    width_px: int = 600,
    height_px: int = 600,
) -> Figure:
    """Precision-recall curve; the legend gives the area as average precision.

    The dotted line is the precision of alerting on everything (the incident prevalence).
    ``score_label`` names the score in the title.

    Examples
    --------
    >>> fig = plot_pr_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> fig.axes[0].get_legend().get_texts()[0].get_text()
    'PR AUC (average precision) = 0.833'

    """
    y_true = np.asarray(y_true).astype(int)
    scores = np.asarray(scores, dtype=float)
    precision, recall, _ = skmetrics.precision_recall_curve(y_true, scores)
    average_precision = skmetrics.average_precision_score(y_true, scores)
    prevalence = y_true.mean()
    fig = _new_figure(width_px, height_px)
    ax = fig.subplots()
    ax.step(
        recall,
        precision,
        where="post",
        color=SCORE_COLOR,
        lw=2,
        label=f"PR AUC (average precision) = {average_precision:.3f}",
    )
    ax.axhline(prevalence, color="#888888", ls=":", lw=1, label=f"prevalence = {prevalence:.3f}")
    if threshold is not None:
        _, recall_at, precision_at = _operating_point(y_true, scores, threshold)
        ax.scatter(
            [recall_at],
            [precision_at],
            color=THRESHOLD_COLOR,
            zorder=5,
            label=f"threshold = {threshold:g}",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall: labels vs {score_label}, per point")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return fig

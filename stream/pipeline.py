"""One detector stack per series, created on first sight, fed in event-time order."""

from __future__ import annotations

from collections.abc import Callable

from detectors import Assessment, DetectorStack
from stream.alerts import AlertEvent
from stream.ordering import OrderGuard
from stream.point import MetricPoint

__all__ = ["Pipeline"]


class Pipeline:
    """Routes points to their series' detector stack.

    Parameters
    ----------
    stack_factory
        Builds a fresh stack for a new series (e.g. ``functools.partial(DetectorStack, ...)``).
    keep_duplicates
        Score repeated timestamps in arrival order instead of rejecting them (see
        :class:`~stream.ordering.OrderGuard`).

    Examples
    --------
    >>> pipeline = Pipeline(lambda: DetectorStack(grace_period=10))
    >>> for t in range(50):
    ...     assessment, event = pipeline.process(MetricPoint("cpu", float(t), 1.0 + t % 3))
    >>> pipeline.series_count, assessment.alert
    (1, False)
    """

    def __init__(
        self,
        stack_factory: Callable[[], DetectorStack] = DetectorStack,
        keep_duplicates: bool = False,
    ):
        self.stack_factory = stack_factory
        self.keep_duplicates = keep_duplicates
        self.stacks: dict[str, DetectorStack] = {}
        self.order = OrderGuard(keep_duplicates)

    @property
    def series_count(self) -> int:
        return len(self.stacks)

    def process(self, point: MetricPoint) -> tuple[Assessment, AlertEvent | None]:
        """Score and learn one point; raises ``InvalidPoint`` for out-of-order or duplicates."""
        self.order.admit(point.series, point.timestamp)
        stack = self.stacks.get(point.series)
        if stack is None:
            stack = self.stacks[point.series] = self.stack_factory()
        assessment = stack.process(point.timestamp, point.value)
        event = None
        if assessment.transition is not None:
            event = AlertEvent.from_assessment(point.series, assessment)
        return assessment, event

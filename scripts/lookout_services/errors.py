"""The one error a development service raises when it cannot be had.

Missing programs, a child that exits during start-up and a child that never becomes ready all
raise :class:`ServiceUnavailable`, whose message says why and ends with the tail of the service's
log, so that a skipped or failed test shows the reason without digging through temp dirs.
"""

from __future__ import annotations

__all__ = ["ServiceUnavailable"]


class ServiceUnavailable(RuntimeError):
    """A service could not be started or did not become ready.

    Examples
    --------
    >>> str(ServiceUnavailable("prometheus: not found on PATH"))
    'prometheus: not found on PATH'
    """

"""The parts of the detector stack, one module each.

Every part declares, once: its constants (``Constants``, computed from the stack's parameters by
``constants(params)``), its per-series state (``FIELDS``, from which ``State`` and the bank's
arrays and exported state are derived, see :mod:`detectors.layout`) and its compiled code.
:mod:`detectors.kernel` assembles them into the stack: a new part is one new module here, its
entry in ``kernel.PARTS`` (which gives the bank its state arrays, the exported state its fields
and the compiled loop its ``st.<part>`` and ``p.<part>``), and the call of its code where its
result enters the loop (``kernel.process_points``).

=================  ============================================================================
``origin``         the series' first value and first change: every part sees it centred, scaled
``sampling``       the sampling interval from the first points, gaps
``forecaster``     the lag forecaster: expected value and band
``seasonal``       the usual value at this time of day
``surprise``       the forecast residual in residual standard deviations, excused by the season
``spread``         the series' overall spread (the floor of every standard deviation)
``volatility``     the surprise averaged over a few points (the ``volatility`` detector)
``zscore``         the rolling z-score (the ``zscore`` detector)
``hst``            Half-Space-Trees on the point's shape (the ``hst`` detector)
``calibration``    raw scores as tail probabilities on the series' own history
``combination``    the detectors' agreement (Fisher or max), recalibrated
``range_break``    a value out of the recent range
``onset``          a score that beats the recent maximum
``alert``          hysteresis: one incident, one alert
=================  ============================================================================
"""

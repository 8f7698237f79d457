"""The parts of the detector stack, one module each.

Every part declares, once: its constants (``Constants``, computed from the stack's parameters by
``constants(params)``), its per-series state (``FIELDS``, from which ``State`` and the bank's
arrays and exported state are derived, see :mod:`detectors.layout`) and its compiled code.
:mod:`detectors.kernel` assembles them into the stack. A new detector (one more raw score for
the combination, selectable with ``--detectors``) is one new module here, with ``NAME``,
``BOUND``, ``FIELDS``, ``Constants``/``constants`` and ``raw(st, slot, point, scratch, p)``, and
its name in the one line ``kernel.DETECTORS``: its state arrays, exported fields, constants,
calibrator and dispatch follow from there (``volatility`` is the smallest example). A part
that is not a detector also needs its call in ``kernel.process_points``, where its result is
used. A new parameter goes into ``StackBank``'s signature, and checkpoints of the previous
series-state version need an upgrade step adding the new fields (``detectors.state_format``).

=================  ============================================================================
``origin``         the series' first value and first change: every part sees it centred, scaled
``sampling``       the sampling interval from the first points, gaps
``forecaster``     the lag forecaster: expected value and band
``seasonal``       the usual value at this time of day
``weekly``         its correction per hour of the week, where it explains the series better
``surprise``       the forecast residual in residual standard deviations, excused by the season
``spread``         the series' overall spread (the floor of every standard deviation)
``forecast``       the surprise beyond ``min_surprise`` (the ``forecast`` detector, no state)
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

"""The readable reference of the detector stack: the tests' oracle, not a product.

Each class here computes, in plain Python and numpy, what a part of :mod:`detectors.parts`
computes compiled (``stack.DetectorStack`` the whole stack, ``forecaster.LagForecaster`` the
forecaster, ...), in the same arithmetic order, so the tests can compare them point by point;
``hst.HalfSpaceTrees`` bridges the compiled forest walk to river's, the oracle of Half-Space-Trees.
"""

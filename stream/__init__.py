"""Lookout's runtime, by role: ``sources/`` (where points come from), ``runtime/`` (what
scores them), ``outputs/`` (what leaves Lookout), ``cli/`` (the commands); ``point.py`` is the
unit of data."""

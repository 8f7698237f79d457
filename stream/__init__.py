"""Lookout's runtime: sources, the per-series pipeline, sinks, metrics and the CLI."""

"""What leaves Lookout: alert events and their sinks, score files, Prometheus gauges."""

"""Where points come from: CSV files, exported JSON, Kafka messages, Prometheus history."""

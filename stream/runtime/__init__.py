"""What scores points: the pipeline, and the replay and live loops that drive it."""

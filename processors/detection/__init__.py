"""Crisis detection: event-time windows, baselines, the spike detector and its explanations."""

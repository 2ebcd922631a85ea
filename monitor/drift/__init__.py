"""Drift detection: reference comparison, calibrated thresholds, alarms."""

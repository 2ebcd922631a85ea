"""Benchmarks of the monitor; run each as ``python -m benchmarks.<name>``."""

"""The demo (``driftwarden demo``) and the monitor config of the churn stream that tests and
benchmarks replay (the stream itself is :func:`driftwarden.testing.generate_stream`)."""

from driftwarden.demo.churn import demo_config

__all__ = ["demo_config"]

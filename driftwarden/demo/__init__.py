"""The demo (``driftwarden demo``) and the generated streams tests and benchmarks replay."""

from driftwarden.demo.streams import (
    StreamEvent,
    demo_config,
    generate_stream,
    stream_profile,
)

__all__ = ["StreamEvent", "demo_config", "generate_stream", "stream_profile"]

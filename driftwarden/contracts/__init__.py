"""The wire contract: every record that crosses a topic, parsed and serialized side by side.

One module per record family, each holding the parser next to the serializer:

- :mod:`~driftwarden.contracts.inputs`: prediction and label events (the monitor's input);
- :mod:`~driftwarden.contracts.examples`: the joined example (monitor writes, worker reads);
- :mod:`~driftwarden.contracts.dead_letters`: the dead letter of a rejected message;
- :mod:`~driftwarden.contracts.drift`: ``drift_detected`` / ``drift_resolved`` events;
- :mod:`~driftwarden.contracts.requests`: the retrain request;
- :mod:`~driftwarden.contracts.retraining`: the retrain worker's events and the audit head.

:mod:`~driftwarden.contracts.schema` holds the one schema version they all carry,
:mod:`~driftwarden.contracts.records` the record and header helpers they share, and
:mod:`~driftwarden.contracts.errors` the errors of malformed records. Times are written by
:func:`driftwarden.core.timestamps.format_timestamp`. The package imports nothing of driftwarden
but :mod:`driftwarden.core`, so both services and the demo use it.
"""

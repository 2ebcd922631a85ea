"""driftwarden: monitoring and retraining of machine-learning models on Kafka.

The streaming service is :mod:`driftwarden.monitor` (the repository's ``monitor/`` folder), the
retraining side :mod:`driftwarden.retrain` (``retrain/``); the command line is ``driftwarden`` or
``python -m driftwarden``.

>>> import driftwarden
>>> driftwarden.__version__
'0.1.0'
"""

__all__ = ["__version__"]

__version__ = "0.1.0"

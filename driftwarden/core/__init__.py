"""What both services use and neither owns: the task vocabulary, reference profiles, the
privacy policy, file helpers, the HTTP server, notifiers and the config building blocks.

Nothing here imports :mod:`driftwarden.monitor` or :mod:`driftwarden.retrain`.
"""

"""driftwarden monitor: joins prediction and label streams and exports online model metrics."""

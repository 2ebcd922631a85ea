"""driftwarden retraining: the retrain side of the loop (filled in by the retraining issue)."""

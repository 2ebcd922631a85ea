"""Repository tools run as modules (``python -m scripts.reference``)."""

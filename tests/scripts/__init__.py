"""Tests of the repository tools in scripts/."""

"""Performance estimated before the labels arrive (CBPE), and checked against them when they do."""

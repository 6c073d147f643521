"""Tools built on the public query API: benchmark contamination and the demo."""

"""Building an index: read inputs, tokenize, cut into shards, sort, write (see ``pipeline.py``)."""

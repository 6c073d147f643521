"""Readers of one shard each: the document table and metadata, and the suffix-array and FM files."""

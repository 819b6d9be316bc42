"""Feature sources: the data behind a collection, queried with plain values (no HTTP)."""

"""The stack back-end: Elasticsearch (store, queries, alert figures)."""

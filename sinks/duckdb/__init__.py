"""The embedded back-end: one DuckDB file (store, queries, alert figures)."""

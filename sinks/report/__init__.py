"""The self-contained HTML report: ``data`` gathers the figures from the same queries as
``trend``/``rank``/``stories``, ``render`` draws them with Plotly (plotly.js embedded, so the
file opens offline)."""

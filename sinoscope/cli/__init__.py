"""The ``sinoscope`` command: one entry point for every stage of the pipeline, one module per
group of commands (pipeline, nlp, sinks, alerts, bus/status) over a shared core."""

# isort: off
from .core import app, state  # noqa: F401
from . import pipeline, nlp, sinks, search, ui, alerts, digest, bus  # noqa: F401,E402  (registers the commands, in --help order)
# isort: on

__all__ = ["app"]

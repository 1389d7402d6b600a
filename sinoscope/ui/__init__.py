"""The local web app: server-rendered pages over the query layer (``sinoscope ui``)."""

"""Sentiment-swing alerts: detect swings per entity (``swings``), remember what fired and what
is still to deliver (``log``), and deliver signed webhooks (``webhook``)."""

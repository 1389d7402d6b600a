"""The core every stage stands on: message schemas, settings, the bus, the stage loop, the shared
error root and the rules written once (tone, redaction). It imports no stage (ingest, nlp, sinks,
flows) and no entry point; `lint-imports` (pyproject.toml) keeps it so."""

"""Processors: redact, filter and enrich telemetry between the plugins and the buffer.

See ``docs/processors.md`` for configuration; :mod:`.chain` for how a
fragment goes through them; :mod:`.stage` for the pipeline glue and the
self-metrics.
"""

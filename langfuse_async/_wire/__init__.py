"""Pure wire formats: ingestion JSON, OTLP JSON and their shared context."""

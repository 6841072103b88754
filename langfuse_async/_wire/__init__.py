"""Pure wire formats: ingestion JSON, OTLP JSON, truncation to fit either, their shared context."""

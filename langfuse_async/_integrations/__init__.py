"""Helpers of the optional integrations (``openai``, ``langchain``, ``opentelemetry``)."""

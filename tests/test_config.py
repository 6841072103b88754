"""Configuration: defaults, environment variables, precedence and validation."""

from __future__ import annotations

from typing import Any

import pytest

from langfuse_async._config import DEFAULT_BASE_URL, Config, resolve_config


def resolve(environ: dict[str, str] | None = None, **options: Any) -> Config:
    return resolve_config(**options, environ=environ or {})


def test_defaults() -> None:
    c = resolve(public_key="pk", secret_key="sk")
    assert c.base_url == DEFAULT_BASE_URL
    assert (c.flush_at, c.flush_interval, c.max_retries, c.timeout) == (100, 1.0, 3, 5.0)
    assert (c.transport, c.sample_rate, c.enabled, c.debug) == ("auto", 1.0, True, False)
    assert c.disabled_reason is None


def test_environment_variables_are_read() -> None:
    env = {
        "LANGFUSE_PUBLIC_KEY": "pk-env",
        "LANGFUSE_SECRET_KEY": "sk-env",
        "LANGFUSE_HOST": "http://localhost:3000/",
        "LANGFUSE_FLUSH_AT": "7",
        "LANGFUSE_FLUSH_INTERVAL": "0.25",
        "LANGFUSE_MAX_RETRIES": "0",
        "LANGFUSE_TIMEOUT": "2.5",
        "LANGFUSE_DEBUG": "true",
        "LANGFUSE_TRANSPORT": "otlp",
        "LANGFUSE_SAMPLE_RATE": "0.5",
        "LANGFUSE_TRACING_ENVIRONMENT": "staging",
        "LANGFUSE_RELEASE": "v1.2.3",
    }
    c = resolve(env)
    assert (c.public_key, c.secret_key, c.base_url) == ("pk-env", "sk-env", "http://localhost:3000")
    assert (c.flush_at, c.flush_interval, c.max_retries, c.timeout) == (7, 0.25, 0, 2.5)
    assert (c.debug, c.transport, c.sample_rate) == (True, "otlp", 0.5)
    assert (c.environment, c.release) == ("staging", "v1.2.3")


def test_base_url_prefers_langfuse_base_url_over_host() -> None:
    env = {"LANGFUSE_BASE_URL": "https://eu.example", "LANGFUSE_HOST": "https://us.example"}
    assert resolve(env).base_url == "https://eu.example"


def test_explicit_arguments_win_over_the_environment() -> None:
    env = {"LANGFUSE_PUBLIC_KEY": "pk-env", "LANGFUSE_FLUSH_AT": "7", "LANGFUSE_TIMEOUT": "9"}
    c = resolve(env, public_key="pk-arg", flush_at=3, timeout=1.5)
    assert (c.public_key, c.flush_at, c.timeout) == ("pk-arg", 3, 1.5)


def test_missing_keys_or_disabled_make_a_no_op_client() -> None:
    assert resolve().disabled_reason == "missing keys"
    assert not resolve().enabled
    c = resolve({"LANGFUSE_TRACING_ENABLED": "false"}, public_key="pk", secret_key="sk")
    assert (c.enabled, c.disabled_reason) == (False, "disabled")


def test_secret_key_never_in_repr() -> None:
    c = resolve(public_key="pk-visible", secret_key="sk-hidden-123")
    assert "sk-hidden-123" not in repr(c)
    assert "pk-visible" in repr(c)


@pytest.mark.parametrize(
    ("options", "environ", "option_name"),
    [
        ({"flush_at": 0}, {}, "flush_at"),
        ({}, {"LANGFUSE_FLUSH_AT": "many"}, "flush_at"),
        ({"flush_interval": 0}, {}, "flush_interval"),
        ({}, {"LANGFUSE_FLUSH_INTERVAL": "-1"}, "flush_interval"),
        ({"max_batch_bytes": 4_000_000}, {}, "max_batch_bytes"),
        ({"max_event_bytes": 3_499_500}, {}, "max_event_bytes"),
        ({"max_queue_size": 0}, {}, "max_queue_size"),
        ({"queue_full": "block"}, {}, "queue_full"),
        ({"max_retries": -1}, {}, "max_retries"),
        ({"timeout": float("nan")}, {}, "timeout"),
        ({}, {"LANGFUSE_TIMEOUT": "soon"}, "timeout"),
        ({"enabled": "maybe"}, {}, "enabled"),
        ({}, {"LANGFUSE_TRACING_ENABLED": "perhaps"}, "enabled"),
        ({"transport": "grpc"}, {}, "transport"),
        ({"sample_rate": 1.5}, {}, "sample_rate"),
        ({"environment": "Production"}, {}, "environment"),
        ({"environment": "langfuse-prod"}, {}, "environment"),
        ({"base_url": "cloud.langfuse.com"}, {}, "base_url"),
        ({"mask": "not callable"}, {}, "mask"),
        ({"backoff_max": 0.1}, {}, "backoff_max"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_option(
    options: dict[str, Any], environ: dict[str, str], option_name: str
) -> None:
    with pytest.raises(ValueError, match=option_name):
        resolve(environ, public_key="pk", secret_key="sk", **options)


def test_errors_name_the_environment_variable_a_bad_value_came_from() -> None:
    with pytest.raises(ValueError, match=r"flush_at \(from LANGFUSE_FLUSH_AT\)"):
        resolve({"LANGFUSE_FLUSH_AT": "0"}, public_key="pk", secret_key="sk")
    with pytest.raises(ValueError, match=r"base_url \(from LANGFUSE_HOST\).*'localhost:3000'"):
        resolve({"LANGFUSE_HOST": "localhost:3000"}, public_key="pk", secret_key="sk")


def test_transport_names_are_case_insensitive() -> None:
    assert resolve({"LANGFUSE_TRANSPORT": "OTLP"}).transport == "otlp"
    assert resolve(transport=" Ingestion ").transport == "ingestion"

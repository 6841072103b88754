"""Configuration: defaults, environment variables, precedence and validation."""

from __future__ import annotations

import logging
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
        ({"environment": 3}, {}, "environment"),
        ({"additional_headers": {"x-tenant\n": "acme"}}, {}, "additional_headers"),
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


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Production", "production"),
        ("langfuse-prod", "prod"),
        ("langfuse_langfuse-Staging", "staging"),
        ("e" * 45, "e" * 40),
        # A trailing newline: "$" alone would let it through; the server files it as default.
        ("production\n", "default"),
        ("prod env", "default"),
        ("langfuse", "default"),
    ],
)
def test_an_environment_is_sent_as_the_server_stores_it_with_a_warning(
    given: str, stored: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The official SDK sends any environment and the server normalises it, never refusing it:
    # LANGFUSE_TRACING_ENVIRONMENT=Production must not stop code written for it.
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        assert resolve(environment=given).environment == stored
        if given == given.strip():  # a variable's surrounding whitespace is dropped first
            assert resolve({"LANGFUSE_TRACING_ENVIRONMENT": given}).environment == stored
    assert any(
        repr(given) in r.getMessage() and repr(stored) in r.getMessage() for r in caplog.records
    )


def test_a_valid_environment_is_kept_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="langfuse_async"):
        assert resolve(environment="prod-eu_1").environment == "prod-eu_1"
        assert resolve(environment="default").environment == "default"
    assert caplog.records == []


def test_errors_name_the_environment_variable_a_bad_value_came_from() -> None:
    with pytest.raises(ValueError, match=r"flush_at \(from LANGFUSE_FLUSH_AT\)"):
        resolve({"LANGFUSE_FLUSH_AT": "0"}, public_key="pk", secret_key="sk")
    with pytest.raises(ValueError, match=r"base_url \(from LANGFUSE_HOST\).*'localhost:3000'"):
        resolve({"LANGFUSE_HOST": "localhost:3000"}, public_key="pk", secret_key="sk")


def test_transport_names_are_case_insensitive() -> None:
    assert resolve({"LANGFUSE_TRANSPORT": "OTLP"}).transport == "otlp"
    assert resolve(transport=" Ingestion ").transport == "ingestion"


# ------------------------------------------------------------- official 5.x keywords and names


def test_host_is_the_official_alias_of_base_url_in_the_official_order() -> None:
    assert resolve(host="http://h:1").base_url == "http://h:1"
    assert resolve({"LANGFUSE_HOST": "http://env-host:1"}, host="http://h:1").base_url == (
        "http://h:1"
    )
    # LANGFUSE_BASE_URL wins over host=, and base_url= over everything (5.x's order).
    assert resolve({"LANGFUSE_BASE_URL": "http://env:1"}, host="http://h:1").base_url == (
        "http://env:1"
    )
    assert resolve({"LANGFUSE_BASE_URL": "http://env:1"}, base_url="http://b:1", host="http://h:1")
    assert resolve(base_url="http://b:1", host="http://h:1").base_url == "http://b:1"
    with pytest.raises(ValueError, match=r"^host must start with https:// or http://"):
        resolve(host="localhost:3000")


def test_tracing_enabled_is_the_official_name_of_enabled() -> None:
    assert resolve(public_key="pk", secret_key="sk", tracing_enabled=False).disabled_reason == (
        "disabled"
    )
    env = {"LANGFUSE_TRACING_ENABLED": "false"}
    assert resolve(env, public_key="pk", secret_key="sk", tracing_enabled=True).enabled
    assert resolve(public_key="pk", secret_key="sk", enabled=False, tracing_enabled=False)
    with pytest.raises(ValueError, match="enabled and tracing_enabled disagree"):
        resolve(enabled=True, tracing_enabled=False)
    with pytest.raises(ValueError, match=r"tracing_enabled \(from LANGFUSE_TRACING_ENABLED\)"):
        resolve({"LANGFUSE_TRACING_ENABLED": "perhaps"}, tracing_enabled=None)


def test_release_falls_back_to_the_ci_commit_variables_as_the_official_sdk_does() -> None:
    assert resolve({"GITHUB_SHA": "abc123"}).release == "abc123"
    assert resolve({"CI_COMMIT_SHA": "gl", "GITHUB_SHA": "gh"}).release == "gl"  # 5.x's order
    assert resolve({"LANGFUSE_RELEASE": "v1", "GITHUB_SHA": "abc"}).release == "v1"
    assert resolve({"GITHUB_SHA": "abc"}, release="v2").release == "v2"
    assert resolve().release is None


def test_decorator_io_capture_variable_is_read_into_capture_io() -> None:
    assert resolve().capture_io is True
    env = {"LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED": "false"}
    assert resolve(env).capture_io is False
    assert resolve({"LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED": "0"}).capture_io is False
    assert resolve(env, capture_io=True).capture_io is True
    with pytest.raises(ValueError, match="LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED"):
        resolve({"LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED": "sometimes"})


def test_media_upload_thread_count_is_accepted_and_validated_but_does_nothing() -> None:
    assert resolve(media_upload_thread_count=4) == resolve()
    with pytest.raises(ValueError, match="media_upload_thread_count"):
        resolve(media_upload_thread_count=0)


def test_otel_compression_takes_gzip_or_none_as_the_official_sdk() -> None:
    assert resolve().otel_gzip is True
    assert resolve(otel_compression="GZIP") == resolve()
    assert resolve(otel_compression=" None ").otel_gzip is False
    with pytest.raises(ValueError, match="otel_compression must be 'gzip' or 'none'"):
        resolve(otel_compression="brotli")


@pytest.mark.parametrize(
    ("environ", "gzip"),
    [
        ({"LANGFUSE_OTEL_COMPRESSION": "none"}, False),
        ({"LANGFUSE_OTEL_COMPRESSION": "GZIP", "OTEL_EXPORTER_OTLP_COMPRESSION": "none"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "none"}, False),
        # Set for other exporters: a value the Langfuse route cannot take is passed over.
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "deflate",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            },
            False,
        ),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "deflate"}, True),
        ({"LANGFUSE_OTEL_COMPRESSION": "  "}, True),
    ],
)
def test_otel_compression_comes_from_the_variables_in_the_official_order(
    environ: dict[str, str], gzip: bool
) -> None:
    assert resolve(environ).otel_gzip is gzip
    # The argument wins over every variable.
    assert resolve(environ, otel_compression="gzip").otel_gzip is True


def test_an_invalid_langfuse_otel_compression_names_the_variable() -> None:
    with pytest.raises(ValueError, match=r"from LANGFUSE_OTEL_COMPRESSION.*'deflate'"):
        resolve({"LANGFUSE_OTEL_COMPRESSION": "deflate"})


def test_a_mask_written_to_the_official_protocol_is_accepted() -> None:
    def mask(*, data: Any, **kwargs: Any) -> Any:
        return data

    assert resolve(mask=mask).mask is mask


# ------------------------------------------------------------------------ keys (issue 9 §4.7)


def test_surrounding_whitespace_is_stripped_from_keys() -> None:
    c = resolve(public_key=" pk-lf-1\n", secret_key="sk-lf-2\r\n")
    assert (c.public_key, c.secret_key) == ("pk-lf-1", "sk-lf-2")
    # Environment values too (a key read with $(cat file) keeps its newline).
    c = resolve({"LANGFUSE_PUBLIC_KEY": "pk-lf-3\n", "LANGFUSE_SECRET_KEY": "\tsk-lf-4 "})
    assert (c.public_key, c.secret_key, c.enabled) == ("pk-lf-3", "sk-lf-4", True)
    assert resolve(public_key="  ", secret_key="sk").disabled_reason == "missing keys"


@pytest.mark.parametrize("bad", ["sk-lf one", "sk-lf-\none", "sk-\x00lf", "sk-lf-\x7f", "sk-lf-é"])
def test_keys_with_inner_whitespace_or_control_characters_are_refused_without_showing_them(
    bad: str,
) -> None:
    with pytest.raises(ValueError, match=r"^secret_key must be printable ASCII") as info:
        resolve(public_key="pk", secret_key=bad)
    assert bad.strip() not in str(info.value)
    with pytest.raises(ValueError, match=r"^public_key \(from LANGFUSE_PUBLIC_KEY\) must be"):
        resolve({"LANGFUSE_PUBLIC_KEY": "pk lf"})


# ---------------------------------------------------------------------- base URL (§4.7)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cloud.langfuse.com/", "https://cloud.langfuse.com"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        (" https://gateway.example/langfuse/ ", "https://gateway.example/langfuse"),
        ("HTTPS://Cloud.Langfuse.com", "HTTPS://Cloud.Langfuse.com"),
    ],
)
def test_valid_base_urls(url: str, expected: str) -> None:
    assert resolve(base_url=url).base_url == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("cloud.langfuse.com", r"must start with https:// or http://.*did you mean"),
        ("localhost:3000", r"must start with https:// or http://"),
        ("ftp://host", r"must be an http:// or https:// URL"),
        ("http://", r"has no host name"),
        ("http://:3000", r"has no host name"),
        ("http://host:99999", r"invalid port"),
        ("http://host:0", r"invalid port"),
        ("http://host:abc", r"invalid port"),
        ("http://host:", r"invalid port"),
        ("http://host/path?x=1", r"must not have a query"),
        ("http://host?", r"must not have a query"),
        ("http://host#frag", r"or a fragment"),
        ("http://ho st", r"whitespace or control characters"),
        ("http://host/\npath", r"whitespace or control characters"),
    ],
)
def test_base_urls_the_transport_cannot_use_are_refused_naming_the_option(
    url: str, message: str
) -> None:
    with pytest.raises(ValueError, match=rf"^base_url .*{message}"):
        resolve(base_url=url)


@pytest.mark.parametrize(
    "url", ["https://user:hunter2@host", "https://hunter2@host/x", "https://u:hunter2@h:1/?q"]
)
def test_a_base_url_with_credentials_is_refused_without_showing_them(url: str) -> None:
    with pytest.raises(ValueError, match="must not contain credentials") as info:
        resolve(base_url=url)
    assert "hunter2" not in str(info.value) and "***@" in str(info.value)
    with pytest.raises(ValueError, match=r"base_url \(from LANGFUSE_BASE_URL\)") as info:
        resolve({"LANGFUSE_BASE_URL": url})
    assert "hunter2" not in str(info.value)


def test_a_scheme_less_base_url_with_credentials_is_not_shown_either() -> None:
    with pytest.raises(ValueError, match="must start with") as info:
        resolve(base_url="user:hunter2@host:3000/x")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("password", ["hunter2#x", "hunter2/x", "hunter2?x", "x#y/hunter2"])
def test_a_password_with_a_delimiter_in_a_url_is_not_shown(password: str) -> None:
    # Unencoded, "#", "/" or "?" end the authority: the credentials looked like a path or a
    # fragment, and the message showed them.
    with pytest.raises(ValueError, match=r"^base_url") as info:
        resolve(base_url=f"https://user:{password}@host")
    assert "hunter2" not in str(info.value) and "***@host" in str(info.value)
    with pytest.raises(ValueError, match=r"^base_url \(from LANGFUSE_HOST\)") as info:
        resolve({"LANGFUSE_HOST": f"https://user:{password}@host"})
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match=r"^proxy") as info:
        resolve(proxy=f"http://user:{password}@proxy:3128")
    assert "hunter2" not in str(info.value) and "***@proxy:3128" in str(info.value)


def test_a_release_the_wire_cannot_carry_has_its_lone_surrogates_replaced() -> None:
    assert resolve(release="v1-\udcff").release == "v1-\ufffd"
    assert resolve({"LANGFUSE_RELEASE": "v1-\udcff"}).release == "v1-\ufffd"
    assert resolve(release="v1-\u00e9").release == "v1-\u00e9"


@pytest.mark.parametrize("option", ["base_url", "proxy"])
@pytest.mark.parametrize(
    ("url", "message"),
    [("http://[zz]:3000", "not a valid URL"), ("http://h\udcff.internal", "undecodable bytes")],
)
def test_urls_urlsplit_refuses_or_that_hold_undecodable_bytes_are_refused_naming_the_option(
    option: str, url: str, message: str
) -> None:
    # "[zz]" raised urlsplit's own ValueError, naming no option; an undecodable byte (a lone
    # surrogate) was accepted, to fail every request later.
    with pytest.raises(ValueError, match=rf"^{option} .*{message}"):
        resolve(**{option: url})


def test_a_number_beyond_the_float_range_is_refused_naming_the_option() -> None:
    # It raised OverflowError, naming nothing.
    with pytest.raises(ValueError, match=r"^timeout must be a finite number"):
        resolve(timeout=10**400)
    with pytest.raises(ValueError, match=r"^exit_timeout must be a finite number"):
        resolve(exit_timeout=-(10**400))


# --------------------------------------------------------- headers, TLS and proxy (§5)


def test_additional_headers_are_kept_in_order_and_never_shown() -> None:
    c = resolve(additional_headers={"X-Api-Key": " secret-123 ", "x-tenant": "acme"})
    assert c.additional_headers == (("X-Api-Key", "secret-123"), ("x-tenant", "acme"))
    assert "secret-123" not in repr(c) and "X-Api-Key" not in repr(c)
    assert dict(c.additional_headers)["x-tenant"] == "acme"
    assert resolve().additional_headers == ()
    assert resolve(additional_headers={}).additional_headers == ()
    hash(c)  # a frozen, hashable value


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (["X-A", "b"], r"must be a dict"),
        ({"X A": "v"}, r"'X A' is not a valid HTTP header name"),
        ({"X-A:": "v"}, r"is not a valid HTTP header name"),
        ({"": "v"}, r"is not a valid HTTP header name"),
        ({1: "v"}, r"is not a valid HTTP header name"),
        ({"Authorization": "Bearer x-secret"}, r"must not set 'Authorization'"),
        ({"content-type": "text/plain"}, r"must not set 'content-type'"),
        ({"X-A": "1", "x-a": "2"}, r"names 'x-a' twice"),
        ({"X-A": 1}, r"\['X-A'\] must be a string"),
        ({"X-A": "x-secret\r\nInjected: 1"}, r"\['X-A'\] must not contain a line break"),
        ({"X-A": "x-secret\x00"}, r"control character"),
        ({"X-A": "x-secret-€"}, r"ISO-8859-1"),
    ],
)
def test_additional_headers_that_cannot_be_sent_are_refused_without_showing_values(
    headers: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=rf"^additional_headers.*{message}") as info:
        resolve(additional_headers=headers)
    assert "x-secret" not in str(info.value)


def test_ssl_option() -> None:
    import ssl

    assert resolve().ssl is True
    assert resolve(ssl=True).ssl is True
    assert resolve(ssl=False).ssl is False
    context = ssl.create_default_context()
    assert resolve(ssl=context).ssl is context
    with pytest.raises(ValueError, match=r"^ssl must be an ssl.SSLContext"):
        resolve(ssl="/etc/ssl/ca.pem")


def test_proxy_options() -> None:
    c = resolve()
    assert (c.proxy, c.trust_env) == (None, True)
    c = resolve(proxy="http://user:hunter2@proxy.internal:3128/", trust_env=False)
    assert (c.proxy, c.trust_env) == ("http://user:hunter2@proxy.internal:3128", False)
    assert "hunter2" not in repr(c)


@pytest.mark.parametrize(
    ("proxy", "message"),
    [
        ("proxy.internal:3128", "must start with http:// or https://"),
        ("socks5://proxy:1080", "must be an http:// or https:// URL"),
        ("http://proxy:70000", "invalid port"),
        ("http://user:hunter2@proxy/path", r"scheme://\[user:password@\]host\[:port\]"),
        ("http://", "has no host name"),
        (3128, "must be a URL string"),
    ],
)
def test_bad_proxies_are_refused_without_showing_credentials(proxy: Any, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^proxy .*{message}") as info:
        resolve(proxy=proxy)
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match="trust_env"):
        resolve(trust_env="sometimes")  # type: ignore[arg-type]


# The environment variables of the official 5.2 SDK (langfuse/_client/environment_variables.py).
OFFICIAL_VARIABLES = [
    "LANGFUSE_TRACING_ENVIRONMENT",
    "LANGFUSE_RELEASE",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "LANGFUSE_BASE_URL",
    "LANGFUSE_HOST",
    "LANGFUSE_OTEL_TRACES_EXPORT_PATH",
    "LANGFUSE_OTEL_MAX_BATCH_SIZE_BYTES",
    "LANGFUSE_OTEL_COMPRESSION",
    "LANGFUSE_DEBUG",
    "LANGFUSE_TRACING_ENABLED",
    "LANGFUSE_MEDIA_UPLOAD_THREAD_COUNT",
    "LANGFUSE_FLUSH_AT",
    "LANGFUSE_FLUSH_INTERVAL",
    "LANGFUSE_SAMPLE_RATE",
    "LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED",
    "LANGFUSE_MEDIA_UPLOAD_ENABLED",
    "LANGFUSE_TIMEOUT",
    "LANGFUSE_PROMPT_CACHE_DEFAULT_TTL_SECONDS",
    "LANGFUSE_OPENAI_SKIP_RAW_RESPONSES",
]


def test_every_official_variable_is_in_the_readme_configuration_section() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    missing = [name for name in OFFICIAL_VARIABLES if f"`{name}`" not in section]
    assert missing == []

"""Client configuration: defaults, environment variables, validation.

Explicit arguments win over the environment; invalid values raise ``ValueError`` naming the
option, at construction, never later on the hot path.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_BATCH_BYTES_LIMIT",
    "Config",
    "QueueFull",
    "TransportMode",
    "resolve_config",
]

DEFAULT_BASE_URL = "https://cloud.langfuse.com"
#: The documented server limit; the hard limit (4.5 MB) is answered with a text 413.
MAX_BATCH_BYTES_LIMIT = 3_500_000
DEFAULT_FLUSH_AT = 100
DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_MAX_EVENT_BYTES = 1_000_000
DEFAULT_MAX_QUEUE_SIZE = 10_000
#: 64 MiB: enough for a burst of large generations, small enough never to threaten a service.
DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_RETRIES = 3
DEFAULT_TIMEOUT = 5.0
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_MAX = 30.0
DEFAULT_EXIT_TIMEOUT = 5.0
#: What shutdown() without a timeout (and ``async with`` exit) allows: enough for a backlog and
#: a retry or two, never an application that cannot exit because the server stopped answering.
DEFAULT_SHUTDOWN_TIMEOUT = 30.0

QueueFull = Literal["drop_new", "drop_oldest"]
TransportMode = Literal["auto", "ingestion", "otlp"]

_ENVIRONMENT_RE = re.compile(r"^(?!langfuse)[a-z0-9_-]+$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclasses.dataclass(frozen=True)
class Config:
    """The validated, resolved options of one client. Secret keys never appear in its repr."""

    public_key: str | None
    secret_key: str | None = dataclasses.field(repr=False)
    base_url: str
    flush_at: int
    flush_interval: float
    max_batch_bytes: int
    max_event_bytes: int
    max_queue_size: int
    max_queue_bytes: int
    queue_full: QueueFull
    max_retries: int
    timeout: float
    backoff_base: float
    backoff_max: float
    exit_timeout: float
    shutdown_timeout: float | None
    enabled: bool
    debug: bool
    transport: TransportMode
    sample_rate: float
    environment: str | None
    release: str | None
    mask: Callable[[Any], Any] | None = dataclasses.field(repr=False)
    disabled_reason: str | None = None
    """Why the client is a no-op: ``"disabled"`` or ``"missing keys"``; None when active."""


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _as_int(option: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{option} must be an integer, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"{option} must be an integer, got {value!r}") from None
    if not isinstance(value, int):
        raise ValueError(f"{option} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{option} must be {bound}, got {value}")
    return value


def _as_float(
    option: str, value: object, *, minimum: float, maximum: float | None = None, open_min: bool
) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{option} must be a number of seconds, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{option} must be a number, got {value!r}") from None
    if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise ValueError(f"{option} must be a finite number, got {value!r}")
    value = float(value)
    if value < minimum or (open_min and value == minimum):
        raise ValueError(f"{option} must be {'>' if open_min else '>='} {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{option} must be <= {maximum}, got {value}")
    return value


def _as_bool(option: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(f"{option} must be a boolean (true/false), got {value!r}")


def _pick(
    option: str, explicit: object, environ: Mapping[str, str], *names: str
) -> tuple[object, str]:
    """Return the value to use and how to name it in an error (with the variable it came from)."""
    if explicit is not None:
        return explicit, option
    for name in names:
        value = _env(environ, name)
        if value is not None:
            return value, f"{option} (from {name})"
    return None, option


def resolve_config(
    *,
    public_key: str | None = None,
    secret_key: str | None = None,
    base_url: str | None = None,
    flush_at: int | None = None,
    flush_interval: float | None = None,
    max_batch_bytes: int = MAX_BATCH_BYTES_LIMIT,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
    queue_full: str = "drop_new",
    max_retries: int | None = None,
    timeout: float | None = None,
    backoff_base: float = DEFAULT_BACKOFF_BASE,
    backoff_max: float = DEFAULT_BACKOFF_MAX,
    exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
    shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    enabled: bool | None = None,
    debug: bool | None = None,
    transport: str | None = None,
    sample_rate: float | None = None,
    environment: str | None = None,
    release: str | None = None,
    mask: Callable[[Any], Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Merge explicit options with ``LANGFUSE_*`` variables and validate the result.

    Raises:
        ValueError: An option (or the variable it came from) is invalid; the message names it.
    """
    env = os.environ if environ is None else environ

    pk, _ = _pick("public_key", public_key, env, "LANGFUSE_PUBLIC_KEY")
    sk, _ = _pick("secret_key", secret_key, env, "LANGFUSE_SECRET_KEY")
    for option, key in (("public_key", pk), ("secret_key", sk)):
        if key is not None and not isinstance(key, str):
            raise ValueError(f"{option} must be a string")
    url, url_label = _pick("base_url", base_url, env, "LANGFUSE_BASE_URL", "LANGFUSE_HOST")
    url = url or DEFAULT_BASE_URL
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(
            f"{url_label} must be an http(s) URL such as {DEFAULT_BASE_URL!r}, got {url!r}"
        )
    url = url.rstrip("/")

    fa_raw, label = _pick("flush_at", flush_at, env, "LANGFUSE_FLUSH_AT")
    fa = _as_int(label, DEFAULT_FLUSH_AT if fa_raw is None else fa_raw, minimum=1)
    fi_raw, label = _pick("flush_interval", flush_interval, env, "LANGFUSE_FLUSH_INTERVAL")
    fi = _as_float(
        label, DEFAULT_FLUSH_INTERVAL if fi_raw is None else fi_raw, minimum=0.0, open_min=True
    )
    mbb = _as_int("max_batch_bytes", max_batch_bytes, minimum=10_000, maximum=MAX_BATCH_BYTES_LIMIT)
    meb = _as_int("max_event_bytes", max_event_bytes, minimum=1_000)
    if meb > mbb - 1_000:
        raise ValueError(
            f"max_event_bytes ({meb}) must leave room for the batch envelope inside "
            f"max_batch_bytes ({mbb}); use at most {mbb - 1_000}"
        )
    mqs = _as_int("max_queue_size", max_queue_size, minimum=1)
    mqb = _as_int("max_queue_bytes", max_queue_bytes, minimum=meb)
    if queue_full not in ("drop_new", "drop_oldest"):
        raise ValueError(f"queue_full must be 'drop_new' or 'drop_oldest', got {queue_full!r}")
    mr_raw, label = _pick("max_retries", max_retries, env, "LANGFUSE_MAX_RETRIES")
    mr = _as_int(label, DEFAULT_MAX_RETRIES if mr_raw is None else mr_raw, minimum=0, maximum=100)
    to_raw, label = _pick("timeout", timeout, env, "LANGFUSE_TIMEOUT")
    to = _as_float(label, DEFAULT_TIMEOUT if to_raw is None else to_raw, minimum=0.0, open_min=True)
    bb = _as_float("backoff_base", backoff_base, minimum=0.0, open_min=False)
    bm = _as_float("backoff_max", backoff_max, minimum=bb, open_min=False)
    et = _as_float("exit_timeout", exit_timeout, minimum=0.0, open_min=False)
    st = (
        None
        if shutdown_timeout is None
        else _as_float("shutdown_timeout", shutdown_timeout, minimum=0.0, open_min=False)
    )
    en_raw, label = _pick("enabled", enabled, env, "LANGFUSE_TRACING_ENABLED")
    en = True if en_raw is None else _as_bool(label, en_raw)
    dbg_raw, label = _pick("debug", debug, env, "LANGFUSE_DEBUG")
    dbg = False if dbg_raw is None else _as_bool(label, dbg_raw)
    tr_raw, label = _pick("transport", transport, env, "LANGFUSE_TRANSPORT")
    tr = "auto" if tr_raw is None else tr_raw
    if isinstance(tr, str):
        tr = tr.strip().lower()  # LANGFUSE_TRANSPORT=OTLP is as clear as otlp
    if tr not in ("auto", "ingestion", "otlp"):
        raise ValueError(f"{label} must be 'auto', 'ingestion' or 'otlp', got {tr_raw!r}")
    sr_raw, label = _pick("sample_rate", sample_rate, env, "LANGFUSE_SAMPLE_RATE")
    sr = _as_float(
        label, 1.0 if sr_raw is None else sr_raw, minimum=0.0, maximum=1.0, open_min=False
    )
    envn, label = _pick("environment", environment, env, "LANGFUSE_TRACING_ENVIRONMENT")
    if envn is not None and (
        not isinstance(envn, str) or len(envn) > 40 or not _ENVIRONMENT_RE.match(envn)
    ):
        raise ValueError(
            f"{label} must be at most 40 characters of a-z, 0-9, '-' or '_' and must not "
            f"start with 'langfuse', got {envn!r}"
        )
    rel, _ = _pick("release", release, env, "LANGFUSE_RELEASE")
    if rel is not None and not isinstance(rel, str):
        raise ValueError("release must be a string")
    if mask is not None and not callable(mask):
        raise ValueError("mask must be a callable taking one value and returning the masked value")

    reason: str | None = None
    if not en:
        reason = "disabled"
    elif not pk or not sk:
        reason = "missing keys"
    return Config(
        public_key=pk,  # type: ignore[arg-type]
        secret_key=sk,  # type: ignore[arg-type]
        base_url=url,
        flush_at=fa,
        flush_interval=fi,
        max_batch_bytes=mbb,
        max_event_bytes=meb,
        max_queue_size=mqs,
        max_queue_bytes=mqb,
        queue_full=queue_full,  # type: ignore[arg-type]
        max_retries=mr,
        timeout=to,
        backoff_base=bb,
        backoff_max=bm,
        exit_timeout=et,
        shutdown_timeout=st,
        enabled=reason is None,
        debug=dbg,
        transport=tr,
        sample_rate=sr,
        environment=envn,
        release=rel,
        mask=mask,
        disabled_reason=reason,
    )

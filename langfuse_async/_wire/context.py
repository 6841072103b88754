"""What every wire format needs to know about the sender, beyond the records themselves."""

from __future__ import annotations

import dataclasses

from .._version import __version__

__all__ = ["SDK_NAME", "WireContext"]

#: Sent as ``x-langfuse-sdk-name`` and in batch metadata; the server uses it for attribution only.
SDK_NAME = "langfuse-async"


@dataclasses.dataclass(frozen=True)
class WireContext:
    """Client-level facts copied into every request.

    Attributes:
        public_key: The project's public key (never the secret key).
        environment: The client's tracing environment, or None.
        release: The client's release, or None.
        sdk_name: Identifies this SDK to the server.
        sdk_version: This package's version.
    """

    public_key: str
    environment: str | None = None
    release: str | None = None
    sdk_name: str = SDK_NAME
    sdk_version: str = __version__

"""The collector's default keys, and which secret key may be shown (the CLI and the web view)."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_PUBLIC_KEY", "DEFAULT_SECRET_KEY", "shown_secret_key"]

DEFAULT_PUBLIC_KEY: Final = "pk-lf-local"
DEFAULT_SECRET_KEY: Final = "sk-lf-local"


def shown_secret_key(secret_key: str) -> str:
    """``secret_key`` if it is the default (known to everyone), else a placeholder.

    A secret chosen with ``--secret-key`` is never printed (the ``serve`` banner) nor written
    into a page (the web view): a screenshot or a shared screen must not carry it.
    """
    return secret_key if secret_key == DEFAULT_SECRET_KEY else "<your --secret-key>"

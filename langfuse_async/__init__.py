"""langfuse_async: an asyncio-native tracer for Langfuse."""

from ._version import __version__

__all__ = ["__version__"]

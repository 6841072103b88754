"""OpenAI drop-in: the ``openai`` package's clients, with every model call traced.

``from langfuse_async.openai import AsyncOpenAI`` instead of ``from openai import AsyncOpenAI``
(also ``OpenAI``, ``AzureOpenAI`` and ``AsyncAzureOpenAI``). Each call of
``chat.completions.create`` / ``.parse``, ``completions.create``, ``embeddings.create`` and
``responses.create`` / ``.parse`` records one generation (an ``embedding`` observation for
embeddings) under the current observation, through :func:`langfuse_async.get_client`.

The clients are subclasses of the ``openai`` ones and only their model resources differ: the
``openai`` package is not patched, so plain ``openai`` clients elsewhere in the process stay
untraced. Calls take the official SDK's extra keyword arguments (``name``, ``metadata``,
``trace_id``, ``parent_observation_id``, ``langfuse_prompt``, ``langfuse_public_key``), which
are removed before the request is made. Streams are returned as they are (the same object);
the generation ends when the stream is exhausted, closed or broken.

Needs the ``openai`` extra: ``pip install "langfuse-async[openai]"``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from functools import cached_property
from typing import Any, TypeVar, cast

try:
    import openai
    from openai.resources.chat import AsyncChat as _AsyncChat, Chat as _Chat
    from openai.resources.chat.completions import (
        AsyncCompletions as _AsyncChatCompletions,
        Completions as _ChatCompletions,
    )
    from openai.resources.completions import (
        AsyncCompletions as _AsyncCompletions,
        Completions as _Completions,
    )
    from openai.resources.embeddings import (
        AsyncEmbeddings as _AsyncEmbeddings,
        Embeddings as _Embeddings,
    )
    from openai.resources.responses import (
        AsyncResponses as _AsyncResponses,
        Responses as _Responses,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'langfuse_async.openai needs the openai package: pip install "langfuse-async[openai]"'
    ) from exc

from ._client import get_client
from ._clock import now_ns
from ._integrations import openai_mapping as _m
from ._log import log_once, logger
from ._tracing.coerce import safe_str
from ._tracing.observations import Observation

__all__ = ["AsyncAzureOpenAI", "AsyncOpenAI", "AzureOpenAI", "OpenAI"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: The official SDK's extra keyword arguments: taken by the tracer, never sent to OpenAI.
_LANGFUSE_KWARGS = (
    "name",
    "metadata",
    "trace_id",
    "parent_observation_id",
    "langfuse_prompt",
    "langfuse_public_key",
)
#: The header with which ``with_raw_response`` / ``with_streaming_response`` call ``create``.
_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"


# ----------------------------------------------------------------------------- the generation


def _begin(kind: str, kwargs: dict[str, Any]) -> tuple[Observation | None, dict[str, Any]]:
    """Split the call's arguments and start its generation (None: not traced)."""
    own = {key: kwargs.pop(key) for key in _LANGFUSE_KWARGS if key in kwargs}
    if "metadata" in own and kwargs.get("store"):
        # Stored completions (distillation) keep their metadata on OpenAI's side too.
        metadata = own["metadata"]
        kwargs["metadata"] = metadata if isinstance(metadata, dict) else {}
    headers = _m.given(kwargs.get("extra_headers"))
    raw = headers.get(_RAW_RESPONSE_HEADER) if isinstance(headers, Mapping) else None
    if raw == "stream" or (raw is not None and kwargs.get("stream") is True):
        # A raw stream can only be read by the caller; it is passed on untraced.
        return None, kwargs
    try:
        return _start(kind, own, kwargs), kwargs
    except Exception:
        logger.warning("could not start the OpenAI generation", exc_info=True)
        return None, kwargs


def _start(kind: str, own: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Observation:
    client = get_client(public_key=own.get("langfuse_public_key"))
    trace_id = own.get("trace_id")
    parent_id = own.get("parent_observation_id")
    if trace_id is None and parent_id is not None:
        trace_id = client.get_current_trace_id()
        if trace_id is None:
            log_once(
                logging.WARNING,
                "openai.parent_without_trace",
                "parent_observation_id needs trace_id outside any observation; ignored",
            )
    trace_context = None
    if trace_id is not None:
        trace_context = {"trace_id": trace_id}
        if parent_id is not None:
            trace_context["parent_span_id"] = parent_id
    metadata = own.get("metadata")
    response_format = _m.given(kwargs.get("response_format"))
    if response_format is not None and (metadata is None or isinstance(metadata, Mapping)):
        metadata = {**(metadata or {}), "response_format": _m.plain(response_format)}
    default_name = "OpenAI-embedding" if kind == "embedding" else "OpenAI-generation"
    return client.start_observation(
        name=own.get("name") or default_name,
        as_type="embedding" if kind == "embedding" else "generation",
        trace_context=trace_context,
        input=_m.request_input(kind, kwargs),
        metadata=metadata,
        model=_m.given(kwargs.get("model")),
        model_parameters=_m.model_parameters(kwargs) or None,
        prompt=own.get("langfuse_prompt"),
    )


def _fail(obs: Observation, exc: BaseException) -> None:
    """End the generation with the error that ended the call (the caller re-raises it)."""
    try:
        message = safe_str(exc) or type(exc).__name__
        # Cancellation or an interrupt is not the API's failure.
        obs.update(
            level="ERROR" if isinstance(exc, Exception) else "WARNING", status_message=message
        ).end()
    except Exception:
        logger.warning("could not record the OpenAI error", exc_info=True)


def _complete(kind: str, obs: Observation, response: Any) -> Any:
    """Record a complete (not streamed) response and end the generation."""
    try:
        parsed = response
        parse = getattr(response, "parse", None)
        if callable(parse) and hasattr(response, "http_response"):
            parsed = parse()  # with_raw_response: the parse is cached for the caller
        obs.update(
            output=_m.response_output(kind, parsed),
            model=_m.field(parsed, "model"),
            usage_details=_m.usage_details(_m.field(parsed, "usage")),
        )
    except Exception:
        logger.warning("could not record the OpenAI response", exc_info=True)
    obs.end()
    return response


class _StreamTrace:
    """What a stream being traced needs: its generation and the chunks seen so far."""

    __slots__ = ("acc", "ended", "kind", "obs", "reading", "started")

    def __init__(self, kind: str, obs: Observation) -> None:
        self.kind = kind
        self.obs = obs
        self.acc = _m.Accumulator()
        self.ended = False
        self.started = False
        self.reading = False
        """True while the next chunk is being read (the stream then ends the generation)."""

    def chunk(self, chunk: Any) -> None:
        try:
            if not self.started:
                self.started = True
                self.obs.update(completion_start_time=now_ns())
            self.acc.add(self.kind, chunk)
        except Exception:
            log_once(logging.WARNING, "openai.chunk", "could not read a streamed chunk")

    def end(self, exc: BaseException | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self.obs.update(**self.acc.fields(self.kind))
        except Exception:
            logger.warning("could not record the OpenAI stream", exc_info=True)
        if exc is not None and not isinstance(exc, GeneratorExit):
            _fail(self.obs, exc)
        else:
            self.obs.end()


class _TracedStream(openai.Stream[Any]):
    """An ``openai.Stream`` whose generation ends with it (the instance's class is swapped)."""

    _langfuse: _StreamTrace

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from super().__iter__()
        finally:
            # Also reached when the caller breaks out of a loop over the stream.
            self._langfuse.end()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._langfuse.end()


class _TracedAsyncStream(openai.AsyncStream[Any]):
    """An ``openai.AsyncStream`` whose generation ends with it."""

    _langfuse: _StreamTrace

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            async for item in super().__aiter__():
                yield item
        finally:
            self._langfuse.end()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._langfuse.end()


def _watch(trace: _StreamTrace, iterator: Iterator[Any]) -> Iterator[Any]:
    try:
        while True:
            trace.reading = True
            try:
                item = next(iterator)
            except StopIteration:
                break
            finally:
                trace.reading = False
            trace.chunk(item)
            yield item
    except BaseException as exc:
        trace.end(exc)
        raise
    trace.end()


async def _awatch(trace: _StreamTrace, iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
    try:
        while True:
            trace.reading = True
            try:
                item = await iterator.__anext__()
            except StopAsyncIteration:
                break
            finally:
                trace.reading = False
            trace.chunk(item)
            yield item
    except BaseException as exc:
        trace.end(exc)
        raise
    trace.end()


def _end_when_closed(trace: _StreamTrace, http: Any, *, is_async: bool) -> None:
    """End the generation when the stream's HTTP response is closed between two chunks.

    The ``.stream()`` helpers close the response, not the stream they read. A close while a
    chunk is being read is the stream's own (at its end, or broken), which ends it itself.
    """
    if is_async:
        close_async = http.aclose

        async def aclose() -> None:
            try:
                await close_async()
            finally:
                if not trace.reading:
                    trace.end()

        http.aclose = aclose
    else:
        close = http.close

        def close_then_end() -> None:
            try:
                close()
            finally:
                if not trace.reading:
                    trace.end()

        http.close = close_then_end


def _returned(kind: str, obs: Observation, response: Any) -> Any:
    """Hand the response back; a stream is the same object, traced as it is read."""
    try:
        if type(response) is openai.Stream:
            trace = _StreamTrace(kind, obs)
            response.__class__ = _TracedStream
            response._langfuse = trace  # type: ignore[attr-defined]
            response._iterator = _watch(trace, response._iterator)
            _end_when_closed(trace, response.response, is_async=False)
            return response
        if type(response) is openai.AsyncStream:
            trace = _StreamTrace(kind, obs)
            response.__class__ = _TracedAsyncStream
            response._langfuse = trace  # type: ignore[attr-defined]
            response._iterator = _awatch(trace, response._iterator)
            _end_when_closed(trace, response.response, is_async=True)
            return response
    except Exception:
        logger.warning("could not trace the OpenAI stream", exc_info=True)
        obs.end()
        return response
    return _complete(kind, obs, response)


def _traced(kind: str, method: _F, *, is_async: bool = False) -> _F:
    """``method`` of an OpenAI resource, recording a generation per call.

    ``is_async`` is explicit: the async resources' methods are wrapped by the ``openai``
    package in plain functions that return coroutines.
    """
    if is_async:

        @functools.wraps(method)
        async def traced_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            obs, kwargs = _begin(kind, kwargs)
            if obs is None:
                return await method(self, *args, **kwargs)
            try:
                response = await method(self, *args, **kwargs)
            except BaseException as exc:
                _fail(obs, exc)
                raise
            return _returned(kind, obs, response)

        return cast(_F, traced_async)

    @functools.wraps(method)
    def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        obs, kwargs = _begin(kind, kwargs)
        if obs is None:
            return method(self, *args, **kwargs)
        try:
            response = method(self, *args, **kwargs)
        except BaseException as exc:
            _fail(obs, exc)
            raise
        return _returned(kind, obs, response)

    return cast(_F, traced)


# ----------------------------------------------------------------------------- resources


class _TracedChatCompletions(_ChatCompletions):
    create = _traced("chat", _ChatCompletions.create)
    parse = _traced("chat", _ChatCompletions.parse)


class _TracedAsyncChatCompletions(_AsyncChatCompletions):
    create = _traced("chat", _AsyncChatCompletions.create, is_async=True)
    parse = _traced("chat", _AsyncChatCompletions.parse, is_async=True)


class _TracedChat(_Chat):
    @cached_property
    def completions(self) -> _TracedChatCompletions:
        return _TracedChatCompletions(self._client)


class _TracedAsyncChat(_AsyncChat):
    @cached_property
    def completions(self) -> _TracedAsyncChatCompletions:
        return _TracedAsyncChatCompletions(self._client)


class _TracedCompletions(_Completions):
    create = _traced("completion", _Completions.create)


class _TracedAsyncCompletions(_AsyncCompletions):
    create = _traced("completion", _AsyncCompletions.create, is_async=True)


class _TracedEmbeddings(_Embeddings):
    create = _traced("embedding", _Embeddings.create)


class _TracedAsyncEmbeddings(_AsyncEmbeddings):
    create = _traced("embedding", _AsyncEmbeddings.create, is_async=True)


class _TracedResponses(_Responses):
    create = _traced("responses", _Responses.create)
    parse = _traced("responses", _Responses.parse)


class _TracedAsyncResponses(_AsyncResponses):
    create = _traced("responses", _AsyncResponses.create, is_async=True)
    parse = _traced("responses", _AsyncResponses.parse, is_async=True)


class _SyncResources:
    """The traced model resources of a sync client (mixed in before the client class)."""

    @cached_property
    def chat(self) -> _TracedChat:
        return _TracedChat(cast(openai.OpenAI, self))

    @cached_property
    def completions(self) -> _TracedCompletions:
        return _TracedCompletions(cast(openai.OpenAI, self))

    @cached_property
    def embeddings(self) -> _TracedEmbeddings:
        return _TracedEmbeddings(cast(openai.OpenAI, self))

    @cached_property
    def responses(self) -> _TracedResponses:
        return _TracedResponses(cast(openai.OpenAI, self))


class _AsyncResources:
    """The traced model resources of an async client (mixed in before the client class)."""

    @cached_property
    def chat(self) -> _TracedAsyncChat:
        return _TracedAsyncChat(cast(openai.AsyncOpenAI, self))

    @cached_property
    def completions(self) -> _TracedAsyncCompletions:
        return _TracedAsyncCompletions(cast(openai.AsyncOpenAI, self))

    @cached_property
    def embeddings(self) -> _TracedAsyncEmbeddings:
        return _TracedAsyncEmbeddings(cast(openai.AsyncOpenAI, self))

    @cached_property
    def responses(self) -> _TracedAsyncResponses:
        return _TracedAsyncResponses(cast(openai.AsyncOpenAI, self))


class OpenAI(_SyncResources, openai.OpenAI):
    """``openai.OpenAI`` recording a generation for each model call."""


class AsyncOpenAI(_AsyncResources, openai.AsyncOpenAI):
    """``openai.AsyncOpenAI`` recording a generation for each model call."""


class AzureOpenAI(_SyncResources, openai.AzureOpenAI):
    """``openai.AzureOpenAI`` recording a generation for each model call."""


class AsyncAzureOpenAI(_AsyncResources, openai.AsyncAzureOpenAI):
    """``openai.AsyncAzureOpenAI`` recording a generation for each model call."""

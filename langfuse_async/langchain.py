"""LangChain callback handler: LangChain runs recorded as nested observations.

Pass ``CallbackHandler()`` in a runnable's ``config={"callbacks": [...]}``. Chains become
``chain`` observations (``agent`` for agents), chat models and LLMs ``generation``\\ s (model,
parameters, messages, usage, time to first streamed token), tools ``tool``\\ s and retrievers
``retriever``\\ s, nested as the LangChain runs nest, inside the current observation if there is
one. A run that fails is recorded with level ``ERROR`` and the error's message.

While a run is open its observation is the current one, so code it runs (a tool's function, an
``@observe`` function, the OpenAI drop-in) records its observations under it.

The handler is synchronous and runs inline (``run_inline = True``): in an async run LangChain
calls it on the event loop itself instead of in a worker thread, and every callback only
records into memory, so it never blocks the loop.

Needs the ``langchain`` extra: ``pip install "langfuse-async[langchain]"``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

try:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.documents import Document
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'langfuse_async.langchain needs langchain-core: pip install "langfuse-async[langchain]"'
    ) from exc

from ._client import get_client
from ._clock import now_ns
from ._integrations import langchain_mapping as _m
from ._log import log_once
from ._records import ObservationType
from ._tracing.coerce import TraceContext, safe_str
from ._tracing.observations import Observation

__all__ = ["CallbackHandler"]

#: Metadata keys that set trace attributes (as in the official handler), not metadata.
_TRACE_KEYS = ("langfuse_session_id", "langfuse_user_id", "langfuse_tags", "langfuse_trace_name")
#: The metadata key of a prompt template that links the next generation to a Langfuse prompt.
_PROMPT_KEY = "langfuse_prompt"


class CallbackHandler(BaseCallbackHandler):
    """Records LangChain runs (chains, models, tools, retrievers, agents) as observations.

    Attributes:
        last_trace_id: The trace id of the last root run recorded, or None.
    """

    run_inline = True
    raise_error = False

    def __init__(
        self,
        *,
        public_key: str | None = None,
        trace_context: TraceContext | None = None,
    ) -> None:
        """Create a handler recording into the client ``get_client()`` returns when a run starts.

        Args:
            public_key: Record into the client built with this public key.
            trace_context: Attach root runs to this trace (and parent observation) instead of
                the current observation: ``{"trace_id": ..., "parent_span_id": ...}``.
        """
        self._public_key = public_key
        self._trace_context = trace_context
        self._runs: dict[UUID, Observation] = {}
        self._parents: dict[UUID, UUID | None] = {}
        self._prompts: dict[UUID, Any] = {}
        """Langfuse prompts waiting for a generation, by the run whose children may use them."""
        self._first_token: set[UUID] = set()
        self._lock = threading.Lock()
        self.last_trace_id: str | None = None

    # ------------------------------------------------------------------ bookkeeping

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        *,
        name: str,
        as_type: ObservationType,
        tags: Sequence[str] | None,
        metadata: Mapping[str, Any] | None,
        **fields: Any,
    ) -> None:
        try:
            parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
            meta = {
                k: v
                for k, v in (metadata or {}).items()
                if k not in _TRACE_KEYS and k != _PROMPT_KEY
            }
            if tags:
                meta["tags"] = list(tags)
            if parent is not None:
                obs = parent.start_observation(
                    name=name, as_type=as_type, metadata=meta or None, **fields
                )
            else:
                # The client is looked up per root run: a handler made before the client
                # (at import time) still records into it.
                obs = get_client(public_key=self._public_key).start_observation(
                    name=name,
                    as_type=as_type,
                    trace_context=self._trace_context,
                    metadata=meta or None,
                    **fields,
                )
                self._trace_attributes(obs, tags, metadata)
                self.last_trace_id = obs.trace_id
            with self._lock:
                self._runs[run_id] = obs
                self._parents[run_id] = parent_run_id
            # Current while the run is open: what the run calls nests under it.
            obs.__enter__()
        except Exception:
            log_once(
                logging.WARNING,
                "langchain.start",
                "could not record the start of a LangChain run",
                exc_info=True,
            )

    @staticmethod
    def _trace_attributes(
        obs: Observation, tags: Sequence[str] | None, metadata: Mapping[str, Any] | None
    ) -> None:
        """Trace attributes a root run's metadata sets (``langfuse_user_id`` and so on)."""
        meta = metadata or {}
        trace_tags = list(tags or [])
        if isinstance(meta.get("langfuse_tags"), list):
            trace_tags += [str(t) for t in meta["langfuse_tags"] if str(t) not in trace_tags]
        name = meta.get("langfuse_trace_name")
        user_id = meta.get("langfuse_user_id")
        session_id = meta.get("langfuse_session_id")
        if trace_tags or name or user_id or session_id:
            obs.update_trace(
                name=name if isinstance(name, str) else None,
                user_id=user_id if isinstance(user_id, str) else None,
                session_id=session_id if isinstance(session_id, str) else None,
                tags=trace_tags or None,
            )

    def _end(self, run_id: UUID, error: BaseException | None = None, **fields: Any) -> None:
        with self._lock:
            obs = self._runs.pop(run_id, None)
            self._parents.pop(run_id, None)
            self._prompts.pop(run_id, None)
        self._first_token.discard(run_id)
        if obs is None:
            return
        try:
            if error is not None and not isinstance(error, GeneratorExit):
                # GeneratorExit: the consumer of a stream stopped early, no failure.
                fields["level"] = _m.level_of(error)
                fields["status_message"] = safe_str(error) or type(error).__name__
            obs.update(**fields)
        except Exception:
            log_once(
                logging.WARNING,
                "langchain.end",
                "could not record the end of a LangChain run",
                exc_info=True,
            )
        obs.__exit__(None, None, None)

    # ------------------------------------------------------------------ chains and agents

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: dict[str, Any] | Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``chain`` (or ``agent``) observation for a chain run."""
        if parent_run_id is not None:
            # A prompt template run carrying a Langfuse prompt: the generation that follows
            # under the same parent (or inside a sibling chain) is linked to it.
            prompt = (metadata or {}).get(_PROMPT_KEY)
            if prompt is not None:
                self._prompts[parent_run_id] = prompt
            elif parent_run_id in self._prompts:
                self._prompts[run_id] = self._prompts[parent_run_id]
        name = _m.run_name(serialized, kwargs)
        ident = serialized.get("id") if isinstance(serialized, Mapping) else None
        path = [str(p) for p in ident] if isinstance(ident, list) else []
        is_agent = "agent" in name.lower() or any("agent" in p.lower() for p in path)
        self._start(
            run_id,
            parent_run_id,
            name=name,
            as_type="agent" if is_agent else "chain",
            tags=tags,
            metadata=metadata,
            input=_m.plain(inputs),
        )

    def on_chain_end(self, outputs: dict[str, Any] | Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the chain run's observation with its outputs (and its final inputs)."""
        self._end(run_id, output=_m.plain(outputs), **_final_input(kwargs))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the chain run's observation with the error."""
        self._end(run_id, error, **_final_input(kwargs))

    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record an agent's decision as an event of its run."""
        obs = self._runs.get(run_id)
        if obs is not None:
            obs.create_event(
                name=str(getattr(action, "tool", "agent_action")),
                input=getattr(action, "tool_input", None),
                metadata={"log": getattr(action, "log", None)},
            )

    def on_agent_finish(self, finish: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record an agent's final return values as its run's output."""
        obs = self._runs.get(run_id)
        if obs is not None:
            obs.update(output=getattr(finish, "return_values", None))

    # ------------------------------------------------------------------ models

    def _generation(
        self,
        serialized: dict[str, Any] | None,
        prompt: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        tools = params.get("tools") if isinstance(params, Mapping) else None
        langfuse_prompt = None
        ancestor = parent_run_id
        while ancestor is not None and langfuse_prompt is None:
            langfuse_prompt = self._prompts.pop(ancestor, None)
            ancestor = self._parents.get(ancestor)
        self._start(
            run_id,
            parent_run_id,
            name=_m.run_name(serialized, kwargs),
            as_type="generation",
            tags=tags,
            metadata=metadata,
            input={"messages": prompt, "tools": tools} if tools else prompt,
            model=_m.model_name(serialized, kwargs, metadata),
            prompt=langfuse_prompt,
            model_parameters={
                key: params[key] for key in _m.PARAMETERS if params.get(key) is not None
            }
            or None,
        )

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``generation`` for a chat model run (messages as OpenAI-style dicts)."""
        converted = [[_m.message_dict(m) for m in batch] for batch in messages]
        prompt = converted[0] if len(converted) == 1 else converted
        self._generation(serialized, prompt, run_id, parent_run_id, tags, metadata, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``generation`` for an LLM run (prompts as strings)."""
        prompt = prompts[0] if len(prompts) == 1 else prompts
        self._generation(serialized, prompt, run_id, parent_run_id, tags, metadata, kwargs)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the first streamed token's time as ``completion_start_time``."""
        if run_id in self._first_token:
            return
        obs = self._runs.get(run_id)
        if obs is not None:
            self._first_token.add(run_id)
            obs.update(completion_start_time=now_ns())

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """End the generation with the output, usage and model of the result."""
        try:
            fields = _m.llm_result(response)
        except Exception:
            log_once(logging.WARNING, "langchain.llm_end", "could not read a LangChain LLM result")
            fields = {}
        self._end(run_id, **fields)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the generation with the error."""
        self._end(run_id, error)

    # ------------------------------------------------------------------ tools and retrievers

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``tool`` observation for a tool run."""
        self._start(
            run_id,
            parent_run_id,
            name=_m.run_name(serialized, kwargs),
            as_type="tool",
            tags=tags,
            metadata=metadata,
            input=inputs if inputs is not None else input_str,
        )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the tool run's observation with its output."""
        if isinstance(output, BaseMessage) and getattr(output, "type", "") == "tool":
            output = output.content
        self._end(run_id, output=_m.plain(output))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the tool run's observation with the error."""
        self._end(run_id, error)

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``retriever`` observation for a retriever run."""
        self._start(
            run_id,
            parent_run_id,
            name=_m.run_name(serialized, kwargs),
            as_type="retriever",
            tags=tags,
            metadata=metadata,
            input=query,
        )

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """End the retriever run's observation with the documents found."""
        self._end(run_id, output=_m.plain(list(documents)))

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the retriever run's observation with the error."""
        self._end(run_id, error)


def _final_input(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The input a chain run's end gives, as the official handler records it.

    A streamed run (``astream``, ``astream_events``) starts with the placeholder
    ``{"input": ""}``, its input being streamed too; LangChain passes the whole input to the
    run's end as ``inputs``.
    """
    inputs = kwargs.get("inputs")
    return {} if inputs is None else {"input": _m.plain(inputs)}

"""A local OpenAI-compatible server for the integration tests (JSON and server-sent events).

It answers ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings`` and
``/v1/responses`` with fixed, recognisable content, records every request body, and can be
scripted: ``fail_next`` answers the next request with an API error, ``tool_call`` makes chat
replies call a tool, ``break_stream_after`` cuts a stream after that many chunks.

Run it in the test's event loop (``async with FakeOpenAI() as server``) for the async
clients, or on a loop of its own in a thread (``with FakeOpenAI.threaded() as server``) for the
sync clients, which block the loop they are called from.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

#: Usage every reply reports (OpenAI's shape, with cached and reasoning details).
USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 1, "audio_tokens": 0},
}
#: The text every completion produces, streamed in these pieces.
PIECES = ["Hel", "lo", " world"]
CREATED = 1_700_000_000


class FakeOpenAI:
    """An OpenAI-compatible aiohttp server on a free loopback port."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        """(path, JSON body) of every request, in order."""
        self.fail_next: tuple[int, str] | None = None
        self.tool_call: dict[str, str] | None = None
        """``{"name": ..., "arguments": ...}``: chat replies call this tool instead of talking."""
        self.break_stream_after: int | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """What to pass as the OpenAI client's ``base_url``."""
        return self.url + "/v1"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/responses", self._responses)
        # Azure: the deployment is in the path, the model in the body.
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    @contextmanager
    def threaded(cls) -> Iterator[FakeOpenAI]:
        """Run a server on its own event loop in a thread until the block ends."""
        server = cls()
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        stop = asyncio.Event()

        def run() -> None:
            async def main() -> None:
                await server.start()
                ready.set()
                await stop.wait()
                await server.stop()

            loop.run_until_complete(main())

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert ready.wait(10), "the fake OpenAI server did not start"
        try:
            yield server
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()

    # ------------------------------------------------------------------ handlers

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        body = await request.json()
        self.requests.append((request.path, body))
        if self.fail_next is not None:
            status, message = self.fail_next
            self.fail_next = None
            error = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
            return body, web.json_response(error, status=status)
        return body, None

    async def _sse(self, request: web.Request, events: list[dict[str, Any]]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index, event in enumerate(events):
            if self.break_stream_after is not None and index >= self.break_stream_after:
                # Cut the connection mid-stream, as a proxy or a crashed server would.
                assert request.transport is not None
                request.transport.close()
                return response
            name = event.pop("__event__", None)
            prefix = f"event: {name}\n" if name else ""
            await response.write(f"{prefix}data: {json.dumps(event)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, error = await self._read(request)
        if error is not None:
            return error
        model = body["model"]
        text = "".join(PIECES)
        if body.get("response_format", {}).get("type") == "json_schema":
            text = json.dumps({"answer": text})  # structured outputs
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if self.tool_call is not None:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": dict(self.tool_call)}
                ],
            }
            finish = "tool_calls"
        base = {"id": "chatcmpl-1", "created": CREATED, "model": model + "-2024"}
        if not body.get("stream"):
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": USAGE,
                }
            )
        chunk = {**base, "object": "chat.completion.chunk"}
        events: list[dict[str, Any]] = []
        if self.tool_call is not None:
            name, arguments = self.tool_call["name"], self.tool_call["arguments"]
            half = len(arguments) // 2
            deltas: list[dict[str, Any]] = [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": name, "arguments": arguments[:half]},
                        }
                    ],
                },
                {"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]},
            ]
        else:
            deltas = [{"role": "assistant", "content": PIECES[0]}]
            deltas += [{"content": piece} for piece in PIECES[1:]]
        for delta in deltas:
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            events.append({**chunk, "choices": [choice]})
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": USAGE})
        return await self._sse(request, events)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body, error = await self._read(request)
        if error is not None:
            return error
        base = {"id": "cmpl-1", "object": "text_completion", "created": CREATED}
        base["model"] = body["model"]
        if not body.get("stream"):
            choice = {"index": 0, "text": "".join(PIECES), "finish_reason": "stop"}
            usage = {k: USAGE[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
            return web.json_response({**base, "choices": [choice], "usage": usage})
        events = [
            {**base, "choices": [{"index": 0, "text": piece, "finish_reason": None}]}
            for piece in PIECES
        ]
        return await self._sse(request, events)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body, error = await self._read(request)
        if error is not None:
            return error
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
            for i in range(len(inputs))
        ]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 4, "total_tokens": 4},
            }
        )

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body, error = await self._read(request)
        if error is not None:
            return error
        text = "".join(PIECES)
        output_message = {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        response = {
            "id": "resp_1",
            "object": "response",
            "created_at": CREATED,
            "status": "completed",
            "model": body["model"],
            "output": [output_message],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 12,
                "input_tokens_details": {"cached_tokens": 2},
                "output_tokens": 5,
                "output_tokens_details": {"reasoning_tokens": 1},
                "total_tokens": 17,
            },
        }
        if not body.get("stream"):
            return web.json_response(response)
        created = {**response, "status": "in_progress", "output": [], "usage": None}
        events: list[dict[str, Any]] = [
            {"__event__": "response.created", "type": "response.created", "response": created}
        ]
        for n, piece in enumerate(PIECES):
            events.append(
                {
                    "__event__": "response.output_text.delta",
                    "type": "response.output_text.delta",
                    "item_id": "msg_1",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                    "sequence_number": n + 1,
                    "logprobs": [],
                }
            )
        events.append(
            {
                "__event__": "response.completed",
                "type": "response.completed",
                "response": response,
                "sequence_number": len(PIECES) + 1,
            }
        )
        return await self._sse(request, events)

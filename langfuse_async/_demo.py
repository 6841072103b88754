"""``langfuse-async demo``: a small traced async service, delivered and shown in seconds.

By default it starts the embedded collector on a free loopback port and prints what arrived as
trace trees, whatever ``LANGFUSE_*`` says: a demo never writes into a real project unasked. With
``--remote`` it sends to the server ``LANGFUSE_*`` names instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from ._client import Langfuse
from ._tracing import get_client, observe

_QUESTIONS = [
    ("u-ada", "What is the capital of France?"),
    ("u-bob", "How warm is it in Lisbon today?"),
    ("u-cy", "Summarise the return policy."),
    ("u-dee", "What is the weather on Mars?"),  # the weather tool fails for this one
]

_DOCUMENTS = {
    "capital": ["Paris is the capital of France."],
    "warm": ["Lisbon: 21 C, sunny."],
    "policy": ["Returns are accepted within 30 days with a receipt."],
}


class ToolError(RuntimeError):
    """The weather service does not know the place."""


@observe(as_type="retriever")
async def retrieve(question: str) -> list[str]:
    await asyncio.sleep(0.01)
    return [doc for key, docs in _DOCUMENTS.items() if key in question.lower() for doc in docs]


@observe(as_type="tool", name="weather")
async def weather(city: str) -> dict[str, Any]:
    await asyncio.sleep(0.005)
    if city == "Mars":
        raise ToolError(f"no weather station on {city}")
    return {"city": city, "celsius": 21, "sky": "sunny"}


@observe(as_type="generation", name="llm")
async def generate(question: str, context: list[str]) -> str:
    prompt_tokens = 12 + 8 * len(context)
    completion_tokens = 9
    await asyncio.sleep(0.02)
    get_client().update_current_generation(
        model="gpt-4o-mini",
        model_parameters={"temperature": 0.2, "max_tokens": 256},
        usage_details={"input": prompt_tokens, "output": completion_tokens},
        cost_details={"input": prompt_tokens * 1.5e-7, "output": completion_tokens * 6e-7},
    )
    return context[0] if context else "I do not know."


@observe(name="handle-request")
async def handle(user_id: str, question: str) -> str:
    langfuse = get_client()
    langfuse.update_current_trace(
        name="chat-turn", user_id=user_id, session_id=f"session-{user_id}", tags=["demo"]
    )
    async with langfuse.start_as_current_observation(
        name="plan", as_type="chain", input={"question": question}
    ) as plan:
        context = await retrieve(question)
        if "weather" in question or "warm" in question:
            city = "Mars" if "Mars" in question else "Lisbon"
            try:
                context.append(str(await weather(city)))
            except ToolError as exc:
                plan.update(level="WARNING", status_message=str(exc))
        plan.update(output={"documents": len(context)})
    answer = await generate(question, context)
    langfuse.score_current_trace(name="helpfulness", value=round(random.uniform(0.6, 1.0), 2))
    return answer


async def _workload() -> None:
    answers = await asyncio.gather(*(handle(user, q) for user, q in _QUESTIONS))
    for (user, question), answer in zip(_QUESTIONS, answers, strict=True):
        print(f"  {user}: {question!r} -> {answer!r}")


def _print_statistics(langfuse: Langfuse) -> None:
    s = langfuse.statistics()
    print(
        f"\nstatistics: transport={s.transport} enqueued={s.enqueued} delivered={s.delivered} "
        f"failed={s.failed} dropped={s.dropped} pending={s.pending} requests={s.requests} "
        f"retries={s.retries} bytes_sent={s.bytes_sent}"
    )


async def _run_local(mode: str, limit: int) -> int:
    from ._collector import Collector
    from ._collector._render import render_store
    from ._collector._store import Store

    with tempfile.TemporaryDirectory(prefix="langfuse-async-demo-") as tmp:
        db = os.path.join(tmp, "demo.db")
        async with Collector(db_path=db, mode=mode) as collector:  # type: ignore[arg-type]
            print(f"embedded collector ({mode}) listening on {collector.url}\n")
            langfuse = Langfuse(
                public_key=collector.public_key,
                secret_key=collector.secret_key,
                base_url=collector.url,
                flush_interval=0.1,
                # The shell's LANGFUSE_* must not make the demo show nothing.
                tracing_enabled=True,
                sample_rate=1.0,
            )
            async with langfuse:
                await _workload()
                result = await langfuse.flush(timeout=10)
            print(f"\nflush: completed={result.completed} pending={result.pending}\n")
        store = Store(db)
        try:
            encoding = (getattr(sys.stdout, "encoding", None) or "ascii").lower()
            print(render_store(store, limit=limit, ascii_only="utf" not in encoding))
        finally:
            store.close()
        _print_statistics(langfuse)
        stats = langfuse.statistics()
        return 0 if result.completed and stats.failed == 0 and stats.dropped == 0 else 1


async def _run_remote(langfuse: Langfuse) -> int:
    async with langfuse:
        print(f"sending to {langfuse._config.base_url}\n")
        await _workload()
        result = await langfuse.flush(timeout=30)
    print(f"\nflush: completed={result.completed} pending={result.pending}")
    _print_statistics(langfuse)
    stats = langfuse.statistics()
    ok = result.completed and stats.failed == 0 and stats.dropped == 0
    print("the traces are in your Langfuse project" if ok else "some events were not delivered")
    return 0 if ok else 1


def _limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if limit < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return limit


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(
        prog="langfuse-async demo",
        description=(
            "Trace a small async service and show what the server received. By default it "
            "sends to an embedded collector, whatever LANGFUSE_* says."
        ),
    )
    parser.add_argument(
        "--mode",
        choices=("v3", "v4"),
        default="v4",
        help="which server the embedded collector behaves like (default: v4, like Cloud)",
    )
    parser.add_argument(
        "--limit", metavar="N", type=_limit, default=10, help="traces to print (default 10)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--remote",
        action="store_true",
        help=(
            "send to the Langfuse server that LANGFUSE_BASE_URL, LANGFUSE_PUBLIC_KEY and "
            "LANGFUSE_SECRET_KEY name, instead of the embedded collector"
        ),
    )
    where.add_argument(
        "--local", action="store_true", help="use the embedded collector (the default)"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not args.remote:
        if os.environ.get("LANGFUSE_PUBLIC_KEY") or os.environ.get("LANGFUSE_SECRET_KEY"):
            print("LANGFUSE_* is set but ignored: pass --remote to send to that server\n")
        return asyncio.run(_run_local(args.mode, args.limit))
    missing = [
        name for name in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY") if not os.environ.get(name)
    ]
    if missing:
        print(f"error: --remote needs {' and '.join(missing)} to be set", file=sys.stderr)
        return 2
    try:
        langfuse = Langfuse()
    except ValueError as exc:  # an invalid LANGFUSE_* value, named by the message
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run_remote(langfuse))

"""What encoding a payload costs on the user's path, in nanoseconds per call.

Run with ``python benchmarks/bench_payload.py [calls]``. Each scenario is timed for several
rounds and the best round is printed (the least disturbed by the rest of the machine).
Numbers are not asserted anywhere; compare them on the same machine.

Plain values take the fast path; dataclasses, bytes and the like take the sanitizing walk.
The pydantic and numpy scenarios run only when those packages are installed.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import platform
import sys
import timeit
from collections.abc import Callable
from typing import Any

import msgspec

from langfuse_async._tracing.payload import encode_metadata, encode_payload

ROUNDS = 7


@dataclasses.dataclass
class Message:
    role: str
    content: str
    name: str | None = None
    created: datetime.datetime | None = None


def scenarios() -> dict[str, Callable[[], Any]]:
    small = {"q": "what is 2+2?", "n": 3, "ok": True}
    messages = {
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
        * 3,
    }
    chat_2kb = {
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "You answer briefly. " * 20},
            {"role": "user", "content": "Summarise the following text. " + "lorem ipsum " * 120},
        ],
    }
    wide = {f"key{i}": (i, f"value {i}", i / 3) for i in range(50)}
    embedding_list = [i / 1536 for i in range(1536)]
    message = Message("user", "what is 2+2?")
    message_with_time = Message("user", "hi", created=datetime.datetime(2024, 1, 1))
    with_bytes = {"q": "hi", "blob": b"raw text"}
    plain_encoder = msgspec.json.Encoder()

    cases: dict[str, Callable[[], Any]] = {
        "msgspec alone, small dict (reference)": lambda: plain_encoder.encode(small),
        "str": lambda: encode_payload("what is 2+2?"),
        "small dict (3 keys)": lambda: encode_payload(small),
        "chat request (6 messages)": lambda: encode_payload(messages),
        "chat request of 2 KB (the throughput benchmark's)": lambda: encode_payload(chat_2kb),
        "wide dict (50 keys of int, str, float tuples)": lambda: encode_payload(wide),
        "embedding as a list of 1536 floats": lambda: encode_payload(embedding_list),
        "args dict with a dataclass": lambda: encode_payload({"message": message}),
        "dict with an exception and a function": lambda: encode_payload(
            {"error": ValueError("boom"), "callback": print}
        ),
        "dataclass (4 fields)": lambda: encode_payload(message),
        "dataclass with a datetime": lambda: encode_payload(message_with_time),
        "dict with bytes": lambda: encode_payload(with_bytes),
        "metadata dict (3 keys)": lambda: encode_metadata(small),
    }

    if importlib.util.find_spec("pydantic") is not None:
        import pydantic

        class Usage(pydantic.BaseModel):
            input: int
            output: int

        class Completion(pydantic.BaseModel):
            id: str
            model: str
            content: str
            usage: Usage

        completion = Completion(id="c-1", model="m", content="4", usage=Usage(input=5, output=1))
        cases["pydantic v2 model (nested)"] = lambda: encode_payload(completion)
        cases["args dict with a pydantic model"] = lambda: encode_payload({"c": completion})

    if importlib.util.find_spec("numpy") is not None:
        import numpy

        embedding = numpy.random.default_rng(0).random(1536, dtype=numpy.float32)
        cases["numpy float32[1536] embedding"] = lambda: encode_payload(embedding)
        cases["dict with numpy scalars"] = lambda: encode_payload(
            {"score": numpy.float32(0.5), "n": numpy.int64(3)}
        )

    return cases


def best_ns(func: Callable[[], Any], calls: int) -> float:
    timer = timeit.Timer(func)
    return min(timer.repeat(repeat=ROUNDS, number=calls)) / calls * 1e9


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(
        f"Python {platform.python_version()} on {platform.machine()}, msgspec {msgspec.__version__}"
    )
    print(f"best of {ROUNDS} rounds of {calls} calls")
    cases = scenarios()
    width = max(len(name) for name in cases)
    for name, func in cases.items():
        print(f"{name:<{width}}  {best_ns(func, calls):>10.0f} ns")


if __name__ == "__main__":
    main()

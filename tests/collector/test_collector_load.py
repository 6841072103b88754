"""Many concurrent clients on every write route: no accepted event is lost or merged away."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import anyio
import pytest

from langfuse_async._collector import Collector

pytestmark = pytest.mark.anyio

PK, SK = "pk-lf-load", "sk-lf-load"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()}
CLIENTS = 40
ROUNDS = 6
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def ingestion_batch(client: int, round_: int) -> list[dict[str, Any]]:
    second = f"{round_:02d}"
    events: list[dict[str, Any]] = [
        # Every client updates the same trace: its tags and metadata must all survive.
        {
            "id": f"trace-{client}-{round_}",
            "type": "trace-create",
            "timestamp": f"2026-08-22T10:00:{second}.{client:03d}Z",
            "body": {
                "id": "shared",
                "tags": [f"client-{client}"],
                "metadata": {"clients": {f"c{client}": round_}},
            },
        }
    ]
    for j in range(8):
        span_id = f"span-{client}-{round_}-{j}"
        events.append(
            {
                "id": f"create-{span_id}",
                "type": "span-create",
                "timestamp": f"2026-08-22T10:00:{second}.000Z",
                "body": {"id": span_id, "traceId": "shared", "name": "work"},
            }
        )
        events.append(
            {
                "id": f"update-{span_id}",
                "type": "span-update",
                "timestamp": f"2026-08-22T10:00:{second}.000Z",
                "body": {"id": span_id, "output": {"client": client, "j": j}},
            }
        )
    return events


def otlp_export(client: int, round_: int) -> dict[str, Any]:
    span_id = f"{client:08x}{round_:08x}"
    return {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "scope": {"name": "langfuse-sdk-load"},
                        "spans": [
                            {
                                "traceId": TRACE,
                                "spanId": span_id,
                                "parentSpanId": "ffffffffffffffff",
                                "name": "otlp-work",
                                "startTimeUnixNano": "1787392800000000000",
                                "endTimeUnixNano": "1787392801000000000",
                            }
                        ],
                    }
                ]
            }
        ]
    }


async def run_client(url: str, client: int, accepted: set[str]) -> None:
    # Each client has its own session, so its own connections.
    async with aiohttp.ClientSession(headers=AUTH) as http:
        for round_ in range(ROUNDS):
            batch = ingestion_batch(client, round_)
            async with http.post(url + "/api/public/ingestion", json={"batch": batch}) as r:
                assert r.status == 207
                answer = await r.json()
            assert answer["errors"] == []
            accepted.update(success["id"] for success in answer["successes"])
            async with http.post(
                url + "/api/public/otel/v1/traces", json=otlp_export(client, round_)
            ) as r:
                assert r.status == 200
            score = {"traceId": "shared", "name": f"quality-{client}", "value": round_}
            async with http.post(url + "/api/public/scores", json=score) as r:
                assert r.status == 200


async def read_meanwhile(url: str, reads: int) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        for _ in range(reads):
            async with http.get(url + "/api/public/traces?limit=5") as r:
                assert r.status == 200
                assert isinstance((await r.json())["data"], list)


async def check_everything_arrived(collector: Collector, accepted: set[str]) -> None:
    assert len(accepted) == CLIENTS * ROUNDS * 17
    assert collector._store is not None
    stored = await collector._store.run(
        lambda s: {row[0] for row in s._conn.execute("SELECT envelope_id FROM events")}
    )
    assert accepted <= stored
    observations = await collector.observations(trace_id="shared")
    assert len(observations) == CLIENTS * ROUNDS * 8
    assert all(o.output is not None and o.name == "work" for o in observations)
    assert len(await collector.observations(trace_id=TRACE)) == CLIENTS * ROUNDS
    shared = await collector.trace("shared")
    assert shared is not None
    assert set(shared.tags) == {f"client-{c}" for c in range(CLIENTS)}
    assert shared.metadata == {"clients": {f"c{c}": ROUNDS - 1 for c in range(CLIENTS)}}
    assert len(await collector.scores(trace_id="shared")) == CLIENTS * ROUNDS


async def test_many_concurrent_clients_lose_nothing(tmp_path):
    accepted: set[str] = set()
    async with Collector(db_path=tmp_path / "load.db", public_key=PK, secret_key=SK) as c:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_meanwhile, c.url, 10)
                for client in range(CLIENTS):
                    tg.start_soon(run_client, c.url, client, accepted)
        await check_everything_arrived(c, accepted)


async def test_two_collectors_sharing_one_database_lose_nothing(tmp_path):
    # E.g. `langfuse-async serve` and a test fixture pointed at the same file.
    db = tmp_path / "shared.db"
    accepted: set[str] = set()
    async with (
        Collector(db_path=db, public_key=PK, secret_key=SK) as first,
        Collector(db_path=db, public_key=PK, secret_key=SK) as second,
    ):
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_meanwhile, first.url, 5)
                tg.start_soon(read_meanwhile, second.url, 5)
                for client in range(CLIENTS):
                    url = (first if client % 2 else second).url
                    tg.start_soon(run_client, url, client, accepted)
        # Each collector rebuilt what it touched from every stored event, so both agree.
        await check_everything_arrived(first, accepted)
        await check_everything_arrived(second, accepted)
        assert await first.trace("shared") == await second.trace("shared")

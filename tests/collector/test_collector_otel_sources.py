"""The collector reads a span's input, output and name from the server's sources, as the server.

Cases the frameworks traced in ``tests/integrations/test_otel_frameworks.py`` showed: Pydantic
AI's agent span, GenAI tool spans, Logfire's names, and which attributes stay in metadata; the
newer server's GenAI operation-details event, and its normalised token counts.
"""

from __future__ import annotations

from typing import Any

from langfuse_async._collector._otlp import convert_export


def _otlp_attributes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}

    return [{"key": k, "value": value(v)} for k, v in attributes.items()]


def _convert(
    attributes: dict[str, Any],
    *,
    scope: str = "pydantic-ai",
    events: tuple[tuple[str, dict[str, Any]], ...] = (),
) -> dict[str, Any]:
    """One root span through the collector's OTLP mapping: its event bodies by type."""
    span = {
        "traceId": "0123456789abcdef0123456789abcdef",
        "spanId": "0123456789abcdef",
        "name": "invoke_agent weather",
        "startTimeUnixNano": "1752384000000000000",
        "endTimeUnixNano": "1752384001000000000",
        "attributes": _otlp_attributes(attributes),
        "events": [
            {"name": name, "timeUnixNano": "1752384000500000000", "attributes": _otlp_attributes(a)}
            for name, a in events
        ],
    }
    export = [{"scopeSpans": [{"scope": {"name": scope}, "spans": [span]}]}]
    converted, _ = convert_export(export, mode="v3")
    return {event["type"]: event["body"] for event, _placeholder in converted}


def test_trace_name_from_logfire_msg() -> None:
    bodies = _convert({"logfire.msg": "weather run"})
    assert bodies["agent-create" if "agent-create" in bodies else "span-create"]["name"] == (
        "weather run"
    )
    assert bodies["trace-create"]["name"] == "weather run"


def test_genai_tool_call_input_and_output() -> None:
    bodies = _convert(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.arguments": '{"city": "a"}',
            "gen_ai.tool.call.result": "sunny in a",
        },
        scope="some.instrumentation",
    )
    tool = bodies["tool-create"]
    assert (tool.get("input"), tool.get("output")) == ({"city": "a"}, "sunny in a")


def test_pydantic_ai_agent_input_and_output() -> None:
    bodies = _convert(
        {
            "gen_ai.operation.name": "invoke_agent",
            "pydantic_ai.all_messages": '[{"role": "user", "parts": []}]',
            "final_result": "sunny",
        }
    )
    agent = bodies["agent-create"]
    assert (agent.get("input"), agent.get("output")) == ([{"role": "user", "parts": []}], "sunny")
    assert (bodies["trace-create"]["input"], bodies["trace-create"]["output"]) == (
        [{"role": "user", "parts": []}],
        "sunny",
    )


def test_attributes_leave_out_every_io_key() -> None:
    bodies = _convert(
        {
            "final_result": "sunny",
            "gen_ai.tool.call.arguments": "{}",
            "llm.input_messages.0.message.role": "user",
            "kept": "yes",
        },
        scope="some.instrumentation",
    )
    assert bodies["span-create"]["metadata"]["attributes"] == {"kept": "yes"}


def test_genai_operation_details_event_gives_the_input_and_output() -> None:
    # GenAI semantic conventions 1.37+ put the messages on an event, not the span.
    details = {"gen_ai.input.messages": '[{"role": "user"}]', "gen_ai.output.messages": "done"}
    bodies = _convert(
        {"gen_ai.operation.name": "chat"},
        scope="otel.genai",
        events=(("gen_ai.client.inference.operation.details", details),),
    )
    generation = bodies["generation-create"]
    assert (generation["input"], generation["output"]) == ([{"role": "user"}], "done")


def test_token_counts_are_stored_normalised() -> None:
    # Cache reads are counted in the input too: taken out, as the server does (_otel_usage).
    bodies = _convert(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 60,
        },
        scope="otel.genai",
    )
    assert bodies["generation-create"]["usageDetails"] == {"input": 40, "input_cached_tokens": 60}


def test_attributes_leave_out_the_metadata_keys_the_metadata_holds() -> None:
    bodies = _convert(
        {"langfuse.observation.metadata.team": "a", "http.route": "/x"},
        scope="some.instrumentation",
    )
    span = bodies["span-create"]
    assert span["metadata"]["team"] == "a"
    assert span["metadata"]["attributes"] == {"http.route": "/x"}

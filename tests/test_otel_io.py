"""The server's order of sources for an OpenTelemetry span's input and output (shared rules).

The newer sources: GenAI semantic conventions 1.37's operation-details event, LiveKit agents'
``lk.pii.*`` attributes (livekit-agents 1.8), and the Vercel AI SDK's GenAI fallback.
"""

from __future__ import annotations

import json

from langfuse_async._otel_io import IO_KEYS, LEFT_OUT_PREFIXES, input_and_output

MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
ANSWER = [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]


def test_genai_operation_details_event_carries_the_messages() -> None:
    event = (
        "gen_ai.client.inference.operation.details",
        {
            "gen_ai.input.messages": json.dumps(MESSAGES),
            "gen_ai.output.messages": json.dumps(ANSWER),
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "be brief"}]),
        },
    )
    input_value, output = input_and_output({"gen_ai.operation.name": "chat"}, [event])
    assert input_value == [{"role": "system", "content": "be brief"}, *MESSAGES]
    assert output == ANSWER


def test_an_operation_details_event_without_messages_leaves_the_other_sources() -> None:
    event = ("gen_ai.client.inference.operation.details", {"gen_ai.response.id": "r1"})
    assert input_and_output({"input.value": "q", "output.value": "a"}, [event]) == ("q", "a")


def test_system_instructions_alone_make_no_input() -> None:
    attrs = {"gen_ai.system_instructions": "be brief", "gen_ai.output.messages": "done"}
    assert input_and_output(attrs) == (None, "done")


def test_livekit_agent_turn_with_instructions_and_the_users_message() -> None:
    attrs = {"lk.pii.instructions": "be kind", "lk.pii.user_input": "hello"}
    assert input_and_output(attrs) == (
        [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hello"}],
        None,
    )


def test_livekit_pii_keys_and_a_turn_that_only_called_tools() -> None:
    calls = '[{"name": "lookup"}]'
    assert input_and_output(
        {"lk.pii.input_text": "what is on", "lk.pii.response.function_calls": calls}
    ) == ("what is on", [{"name": "lookup"}])
    # An empty list of calls is no output.
    assert input_and_output({"lk.pii.response.function_calls": "[]"}) == (None, None)
    assert input_and_output(
        {"lk.pii.function_tool.arguments": '{"q": 1}', "lk.pii.function_tool.output": "ok"}
    ) == ({"q": 1}, "ok")
    # The older, bare keys come first.
    assert input_and_output({"lk.user_transcript": "a", "lk.pii.chat_ctx": "b"})[0] == "a"


def test_the_vercel_ai_sdk_falls_back_to_genai_messages() -> None:
    attrs = {"ai.prompt": "question", "gen_ai.output.messages": json.dumps(ANSWER)}
    assert input_and_output(attrs, scope_name="ai") == ("question", ANSWER)
    only_genai = {"gen_ai.input.messages": json.dumps(MESSAGES)}
    assert input_and_output(only_genai, scope_name="ai") == (MESSAGES, None)


def test_metadata_keys_are_left_out_of_the_attributes_by_prefix() -> None:
    for key in (
        "langfuse.observation.metadata.k",
        "langfuse.trace.metadata.k",
        "ai.telemetry.metadata.k",
        "llm.input_messages.0.message.role",
    ):
        assert key.startswith(LEFT_OUT_PREFIXES)
    assert not "http.method".startswith(LEFT_OUT_PREFIXES)


GENKIT_INPUT = {
    "messages": [{"role": "user", "content": [{"text": "weather in Paris?"}]}],
    "config": {"temperature": 0.2},
    "tools": [],
}
GENKIT_OUTPUT = {
    "message": {"role": "model", "content": [{"text": "sunny"}]},
    "finishReason": "stop",
    "usage": {"inputTokens": 5, "outputTokens": 3},
}


def test_genkit_model_span_reads_messages_and_message() -> None:
    attrs = {
        "genkit:type": "action",
        "genkit:metadata:subtype": "model",
        "genkit:input": json.dumps(GENKIT_INPUT),
        "genkit:output": json.dumps(GENKIT_OUTPUT),
        "input.value": "not read",  # an earlier source wins: the later ones are not tried
    }
    assert input_and_output(attrs, (), "genkit-tracer") == (
        GENKIT_INPUT["messages"],
        GENKIT_OUTPUT["message"],
    )


def test_genkit_flow_span_keeps_its_whole_payload_and_never_falls_through() -> None:
    flow = {"genkit:input": '"Paris"', "genkit:output": json.dumps({"forecast": "sunny"})}
    assert input_and_output(flow, (), "genkit-tracer") == ("Paris", {"forecast": "sunny"})
    # A Genkit span with neither key has no input or output, whatever else it carries.
    assert input_and_output({"input.value": "x"}, (), "genkit-tracer") == (None, None)
    # Another scope's span reads no genkit keys.
    assert input_and_output(flow, (), "other") == (None, None)


def test_flue_keys_by_span_kind_in_the_servers_order() -> None:
    turn = {
        "flue.turn.input": json.dumps([{"role": "user", "content": "hi"}]),
        "flue.turn.output": "hello",
        "flue.tool.result": "not read",
    }
    scope = "@flue/opentelemetry"
    assert input_and_output(turn, (), scope) == ([{"role": "user", "content": "hi"}], "hello")
    tool = {"flue.tool.arguments": '{"city": "Paris"}', "flue.tool.result": "12"}
    assert input_and_output(tool, (), scope) == ({"city": "Paris"}, 12)  # JSON read, as a number
    workflow = {"flue.workflow.payload": "", "flue.operation.result": "done"}
    assert input_and_output(workflow, (), scope) == ("", "done")
    # No flue key: the other sources are read; another scope's flue keys are nobody's.
    assert input_and_output({"input.value": "q"}, (), scope) == ("q", None)
    assert input_and_output(tool, (), "other") == (None, None)


def test_the_new_sources_keys_are_left_out_of_the_attributes() -> None:
    for key in ("genkit:input", "genkit:output", "flue.turn.input", "flue.workflow.result"):
        assert key in IO_KEYS
    assert "gen_ai.system_instructions" in IO_KEYS  # the server leaves it out too

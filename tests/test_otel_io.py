"""The server's order of sources for an OpenTelemetry span's input and output (shared rules).

The newer sources: GenAI semantic conventions 1.37's operation-details event, LiveKit agents'
``lk.pii.*`` attributes (livekit-agents 1.8), and the Vercel AI SDK's GenAI fallback.
"""

from __future__ import annotations

import json

from langfuse_async._otel_io import LEFT_OUT_PREFIXES, input_and_output

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

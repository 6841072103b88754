"""The span-to-observation mapping, as the Langfuse server reads OTLP attributes."""

from __future__ import annotations

import datetime as dt
import json

from langfuse_async._integrations.otel_mapping import map_span


def test_langfuse_keys_come_first() -> None:
    mapped = map_span(
        name="span-name",
        attributes={
            "langfuse.observation.type": "generation",
            "langfuse.observation.input": json.dumps([{"role": "user", "content": "hi"}]),
            "langfuse.observation.output": "plain text",
            "input.value": "ignored: the Langfuse key wins",
            "langfuse.observation.metadata.route": "/chat",
            "langfuse.observation.level": "warn",
            "langfuse.observation.status_message": "slow",
            "langfuse.observation.model.name": "gpt-4o",
            "gen_ai.request.model": "ignored",
            "langfuse.observation.model.parameters": json.dumps({"temperature": 0.2, "x": [1]}),
            "langfuse.observation.usage_details": json.dumps({"input": 12, "output": -1}),
            "langfuse.observation.cost_details": json.dumps({"total": 0.5}),
            "langfuse.observation.completion_start_time": '"2026-08-22T10:00:00.350000Z"',
            "langfuse.observation.prompt.name": "qa",
            "langfuse.observation.prompt.version": 3,
            "langfuse.version": "1.2",
            "langfuse.trace.name": "turn",
            "user.id": "u-1",
            "session.id": "s-1",
            "langfuse.trace.tags": ("a", "b"),
            "langfuse.trace.metadata.tenant": "acme",
        },
        scope_name="langfuse-sdk",
        scope_version="3.0",
    )
    assert (mapped.name, mapped.as_type) == ("span-name", "generation")
    f = mapped.fields
    assert f["input"] == [{"role": "user", "content": "hi"}]
    assert f["output"] == "plain text"
    assert f["metadata"] == {
        "route": "/chat",
        "scope": {"name": "langfuse-sdk", "version": "3.0", "attributes": {}},
    }
    assert (f["level"], f["status_message"], f["version"]) == ("WARNING", "slow", "1.2")
    assert f["model"] == "gpt-4o"
    assert f["model_parameters"] == {"temperature": 0.2, "x": "[1]"}
    assert f["usage_details"] == {"input": 12}
    assert f["cost_details"] == {"total": 0.5}
    assert f["completion_start_time"] == dt.datetime(
        2026, 8, 22, 10, 0, 0, 350000, tzinfo=dt.timezone.utc
    )
    assert (f["prompt_name"], f["prompt_version"]) == ("qa", 3)
    assert mapped.trace == {
        "name": "turn",
        "user_id": "u-1",
        "session_id": "s-1",
        "tags": ["a", "b"],
        "metadata": {"tenant": "acme"},
    }


def test_openinference_llm_span() -> None:
    mapped = map_span(
        name="ChatCompletion",
        attributes={
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.invocation_parameters": json.dumps({"temperature": 0.3}),
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be brief",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "hi",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "hello",
            "llm.token_count.prompt": 12,
            "llm.token_count.completion": 5,
            "llm.token_count.total": 17,
            "llm.token_count.prompt_details.cache_read": 2,
            "llm.cost.total": 0.01,
        },
        scope_name="openinference.instrumentation.openai",
        resource={"service.name": "api", "service.version": "9"},
    )
    f = mapped.fields
    assert mapped.as_type == "generation"
    # Nested as the flattened keys say (the server keeps the ``message`` level).
    assert f["input"] == [
        {"message": {"role": "system", "content": "Be brief"}},
        {"message": {"role": "user", "content": "hi"}},
    ]
    assert f["output"] == [{"message": {"role": "assistant", "content": "hello"}}]
    # Input counts the cache reads too: taken out, as the server does, so each is priced once.
    assert f["usage_details"] == {
        "input": 10,
        "output": 5,
        "total": 17,
        "input_cached_tokens": 2,
    }
    assert f["cost_details"] == {"total": 0.01}
    assert f["version"] == "9"
    assert f["metadata"]["attributes"]["llm.model_name"] == "gpt-4o-mini"
    assert f["metadata"]["attributes"]["llm.token_count.prompt"] == "12"  # as strings
    assert "llm.input_messages.0.message.role" not in f["metadata"]["attributes"]
    assert f["metadata"]["resourceAttributes"] == {"service.name": "api", "service.version": "9"}


def test_genai_semantic_conventions() -> None:
    tool = map_span(
        name="execute_tool",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.arguments": '{"city": "Paris"}',
            "gen_ai.tool.call.result": "sunny",
            "gen_ai.conversation.id": "conv-1",
        },
    )
    assert (tool.name, tool.as_type) == ("get_weather", "tool")
    assert tool.fields["input"] == {"city": "Paris"}
    assert tool.fields["output"] == "sunny"
    assert tool.trace == {"session_id": "conv-1"}
    chat = map_span(
        name="chat",
        attributes={
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
            "gen_ai.response.model": "claude",
            "gen_ai.usage.prompt_tokens": 3,
            "gen_ai.usage.completion_tokens": 4,
            "langfuse.tags": "x, y",
        },
    )
    assert chat.as_type == "generation"  # a model key and nothing else
    assert chat.fields["input"] == [{"role": "user", "content": "hi"}]
    assert chat.fields["output"] == [{"role": "assistant", "content": "hello"}]
    assert chat.fields["usage_details"] == {"input": 3, "output": 4}
    assert chat.trace == {"tags": ["x", "y"]}
    embed = map_span(name="e", attributes={"gen_ai.operation.name": "embeddings"})
    assert embed.as_type == "embedding"


def test_status_and_plain_spans() -> None:
    failed = map_span(name="job", attributes={}, is_error=True, status_message="boom")
    assert (failed.as_type, failed.fields["level"], failed.fields["status_message"]) == (
        "span",
        "ERROR",
        "boom",
    )
    overridden = map_span(
        name="job", attributes={"langfuse.observation.level": "DEBUG"}, is_error=True
    )
    assert overridden.fields["level"] == "DEBUG"
    plain = map_span(name="plain", attributes={"input.value": "not json {"})
    assert plain.fields == {"input": "not json {"}
    assert plain.trace == {}


# --------------------------------------------------------------------------- frameworks' keys


def test_names_from_logfire_and_the_vercel_ai_sdk() -> None:
    agent = map_span(name="invoke_agent weather", attributes={"logfire.msg": "weather run"})
    assert agent.name == "weather run"  # Pydantic AI's agent span, as the server names it
    tool = map_span(
        name="execute_tool get_weather",
        attributes={"gen_ai.tool.name": "get_weather", "logfire.msg": "running tool"},
    )
    assert tool.name == "get_weather"
    vercel = map_span(
        name="ai.generateText",
        attributes={"ai.operationId": "ai.generateText", "ai.telemetry.functionId": "chat"},
    )
    assert vercel.name == "chat:ai.generateText"
    assert map_span(name="x", attributes={"ai.toolCall.name": "search"}).name == "search"


def test_pydantic_ai_agent_span_reads_all_messages_and_final_result() -> None:
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "pydantic_ai.all_messages": json.dumps([{"role": "user", "parts": []}]),
        "final_result": "sunny",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        "logfire.msg": "weather run",
    }
    agent = map_span(name="invoke_agent", attributes=attributes, scope_name="pydantic-ai")
    assert agent.as_type == "agent"
    assert agent.fields["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "parts": []},
    ]
    assert agent.fields["output"] == "sunny"
    kept = agent.fields["metadata"]["attributes"]
    assert "final_result" not in kept and "pydantic_ai.all_messages" not in kept
    assert kept["logfire.msg"] == "weather run"
    # Only Pydantic AI's scope reads those keys.
    other = map_span(name="invoke_agent", attributes=attributes, scope_name="other")
    assert "input" not in other.fields and "output" not in other.fields


def test_input_and_output_come_from_one_source() -> None:
    # input.value comes before gen_ai.*.messages: its span has no output, as on the server.
    mapped = map_span(
        name="chat",
        attributes={
            "input.value": "question",
            "gen_ai.input.messages": json.dumps([{"role": "user", "content": "hi"}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "yo"}]),
        },
    )
    assert mapped.fields["input"] == "question"
    assert "output" not in mapped.fields


def test_genai_message_events_are_the_input_and_output() -> None:
    mapped = map_span(
        name="chat",
        attributes={"gen_ai.request.model": "m", "input.value": "not read: events come first"},
        events=[
            ("gen_ai.system.message", {"content": "Be brief."}),
            ("gen_ai.user.message", {"content": "hi"}),
            ("exception", {"exception.message": "ignored"}),
            ("gen_ai.choice", {"index": 0, "message": '{"content": "yo"}'}),
        ],
    )
    assert mapped.fields["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert mapped.fields["output"] == {"index": 0, "message": '{"content": "yo"}'}


def test_system_instructions_in_the_servers_shapes() -> None:
    def first(instructions: str, messages: object = ()) -> object:
        mapped = map_span(
            name="chat",
            attributes={
                "gen_ai.input.messages": json.dumps(list(messages) or [{"role": "user"}]),
                "gen_ai.system_instructions": instructions,
            },
        )
        return mapped.fields["input"][0]

    parts = json.dumps([{"type": "text", "content": "A."}, {"type": "text", "content": "B."}])
    assert first(parts) == {"role": "system", "content": "A.\nB."}
    whole = json.dumps([{"parts": [{"type": "text", "content": "A."}]}])
    assert first(whole) == {"role": "system", "parts": [{"type": "text", "content": "A."}]}
    assert first(json.dumps("Be helpful.")) == {"role": "system", "content": "Be helpful."}
    assert first("not json") == {"role": "system", "content": "not json"}
    assert first("[42, null]") == {"role": "user"}
    existing = [{"role": "system", "content": "Mine."}, {"role": "user"}]
    assert first(parts, existing) == {"role": "system", "content": "Mine."}


def test_third_party_metadata_keeps_attributes_as_strings_and_scope_attributes() -> None:
    mapped = map_span(
        name="s",
        attributes={
            "tokens": 3,
            "ratio": 1.0,
            "flag": True,
            "tags": ("a", "b"),
            "langfuse.observation.metadata.k": "v",
            "output": "answer",
        },
        scope_name="some.instrumentation",
        scope_version="1.0",
        scope_attributes={"team": "x"},
    )
    meta = mapped.fields["metadata"]
    assert meta["attributes"] == {
        "tokens": "3",
        "ratio": "1",
        "flag": "true",
        "tags": '["a","b"]',
    }  # the metadata key is in the metadata itself, not repeated (as the server has it)
    assert meta["k"] == "v"
    assert meta["scope"] == {
        "name": "some.instrumentation",
        "version": "1.0",
        "attributes": {"team": "x"},
    }
    assert mapped.fields["output"] == "answer"


def test_model_parameters_keep_strings_and_numbers_and_write_the_rest_as_json() -> None:
    llama = map_span(
        name="MockLLM.complete",
        attributes={"llm.invocation_parameters": '{"num_output": 8, "is_chat_model": false}'},
    )
    assert llama.fields["model_parameters"] == {"num_output": 8, "is_chat_model": "false"}
    semconv = map_span(
        name="chat",
        attributes={
            "gen_ai.request.model": "m",
            "gen_ai.request.stop_sequences": ("x",),
            "gen_ai.request.stream": True,
        },
    )
    assert semconv.fields["model_parameters"] == {"stop_sequences": '["x"]', "stream": "true"}
    configured = map_span(name="s", attributes={"model_config": '{"temperature": 0}'})
    assert configured.fields["model_parameters"] == {"temperature": 0}


def test_the_ai_gateways_langfuse_keys_stay_out_of_the_attributes() -> None:
    attributes = {
        "langfuse.observation.model.name": "gpt-4o",
        "langfuse.observation.usage_details": '{"input": 3}',
        "langfuse.environment": "production",
        "http.route": "/v1/chat",
    }
    gateway = map_span(name="g", attributes=attributes, scope_name="langfuse-ai-gateway")
    assert gateway.fields["metadata"]["attributes"] == {"http.route": "/v1/chat"}
    assert (gateway.fields["model"], gateway.fields["usage_details"]) == ("gpt-4o", {"input": 3})
    other = map_span(name="g", attributes=attributes, scope_name="some.instrumentation")
    assert "langfuse.environment" in other.fields["metadata"]["attributes"]

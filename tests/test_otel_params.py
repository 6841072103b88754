"""Model parameters and completion starts of OpenTelemetry spans, read as the server reads them."""

from __future__ import annotations

import json

import pytest

from langfuse_async._otel_params import first_chunk_ms, model_parameters

#: A Vercel AI SDK ``ai.streamText.doStream`` span, as AI SDK 5 sends it to OpenAI.
AI_SDK_STREAM = {
    "ai.operationId": "ai.streamText.doStream",
    "ai.model.id": "gpt-4o-mini",
    "ai.model.provider": "openai.responses",
    "ai.settings.maxRetries": 2,
    "ai.prompt.toolChoice": '{"type":"auto"}',
    "gen_ai.system": "openai.responses",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.temperature": 0.3,
    "gen_ai.request.max_tokens": 512,
    "gen_ai.response.finish_reasons": ("stop",),
    "ai.response.msToFirstChunk": 412.27,
    "ai.response.providerMetadata": json.dumps(
        {"openai": {"responseId": "resp_1", "serviceTier": "default"}}
    ),
}


def test_ai_sdk_settings_are_read_as_strings_under_the_servers_names() -> None:
    assert model_parameters(AI_SDK_STREAM, "ai") == {
        "maxSteps": None,
        "toolChoice": '{"type":"auto"}',
        "maxTokens": "512",
        "finishReason": "stop",
        "system": "openai.responses",
        "maxRetries": "2",
        "mode": None,
        "temperature": "0.3",
        # The tier OpenAI served the call with, before the one asked for.
        "service_tier": "default",
    }


def test_ai_sdk_older_keys_and_the_requested_service_tier() -> None:
    # AI SDK 3 named the finish reason `gen_ai.finishReason`; with no provider metadata the
    # requested tier is taken; generateObject sends its mode.
    attrs = {
        "ai.settings.maxSteps": 5,
        "ai.settings.mode": "json",
        "ai.model.provider": "anthropic.messages",
        "gen_ai.finishReason": "length",
        "gen_ai.request.service_tier": "flex",
        "gen_ai.response.finish_reasons": None,
    }
    params = model_parameters(attrs, "ai")
    assert params is not None
    assert (params["maxSteps"], params["mode"], params["system"]) == (
        "5",
        "json",
        "anthropic.messages",
    )
    # A key that is there without a value reads as null, and the older one is not tried.
    assert params["finishReason"] is None
    assert params["service_tier"] == "flex"


def test_ai_sdk_span_with_no_settings_still_names_every_parameter() -> None:
    params = model_parameters({"ai.operationId": "ai.generateText"}, "ai")
    assert params is not None
    assert set(params) == {
        "maxSteps",
        "toolChoice",
        "maxTokens",
        "finishReason",
        "system",
        "maxRetries",
        "mode",
        "temperature",
        "service_tier",
    }
    assert set(params.values()) == {None}


def test_langfuses_own_parameters_win_over_the_ai_sdks_settings() -> None:
    attrs = {
        **AI_SDK_STREAM,
        "langfuse.observation.model.parameters": json.dumps({"temperature": 1.0, "seed": True}),
    }
    params = model_parameters(attrs, "ai")
    assert params is not None
    # Merged over them (a JSON number kept as a number, JavaScript's 1; true as its JSON).
    assert (params["temperature"], params["seed"], params["maxTokens"]) == (1, "true", "512")
    assert type(params["temperature"]) is int


def test_langfuses_own_parameters_alone_elsewhere_even_empty() -> None:
    own = {"langfuse.observation.model.parameters": json.dumps({"top_p": 0.9, "stop": ["\n"]})}
    attrs = {**own, "gen_ai.request.temperature": 0.2}
    assert model_parameters(attrs, "openinference.instrumentation.openai") == {
        "top_p": 0.9,
        "stop": '["\\n"]',
    }
    # An empty object is there: the server stops at it, as at any object.
    empty = {"langfuse.observation.model.parameters": "{}", "gen_ai.request.temperature": 0.2}
    assert model_parameters(empty) is None
    # No JSON, or JSON's null, lets the next source speak.
    for unread in ("{temperature: 1}", "null"):
        attrs = {"langfuse.observation.model.parameters": unread, "gen_ai.request.top_k": 3}
        assert model_parameters(attrs) == {"top_k": 3}


def test_genkit_config_of_the_request_or_the_one_echoed_in_the_response() -> None:
    config = {"temperature": 0.7, "maxOutputTokens": 256, "stopSequences": ["END"]}
    request = {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "config": config}
    expected = {"temperature": 0.7, "maxOutputTokens": 256, "stopSequences": '["END"]'}
    assert model_parameters({"genkit:input": json.dumps(request)}, "genkit-tracer") == expected
    response = {"message": {"role": "model"}, "request": request}
    echoed = {"genkit:input": '{"messages": []}', "genkit:output": json.dumps(response)}
    assert model_parameters(echoed, "genkit-tracer") == expected
    # Another scope's span with Genkit's keys has no config read.
    assert model_parameters({"genkit:input": json.dumps(request)}, "other") is None


def test_openinference_invocation_parameters_then_model_config_then_flattened_keys() -> None:
    invocation = {"model": "gpt-4o", "temperature": 0.2, "response_format": {"type": "json"}}
    attrs = {
        "llm.invocation_parameters": json.dumps(invocation),
        "model_config": '{"seed": 1}',
        "gen_ai.request.top_p": 0.5,
    }
    assert model_parameters(attrs) == {
        "model": "gpt-4o",  # kept here, unlike the flattened keys' model
        "temperature": 0.2,
        "response_format": '{"type":"json"}',
    }
    # An empty object is read too, and ends the search.
    assert model_parameters({**attrs, "llm.invocation_parameters": "{}"}) is None
    # Not JSON: the next source.
    assert model_parameters({**attrs, "llm.invocation_parameters": "temperature=0.2"}) == {
        "seed": 1
    }


def test_flattened_request_and_invocation_parameter_keys_without_the_model() -> None:
    attrs = {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.stop_sequences": ("a", "b"),
        "gen_ai.request.stream": True,
        "llm.invocation_parameters.max_tokens": 100,
        "llm.invocation_parameters.temperature": 0.4,
    }
    assert model_parameters(attrs) == {
        "temperature": 0.4,  # the invocation parameters' keys come after, and win
        "stop_sequences": '["a","b"]',
        "stream": "true",
        "max_tokens": 100,
    }
    assert model_parameters({"gen_ai.request.model": "gpt-4o"}) is None


def test_first_chunk_counts_from_the_span_start_rounded_up() -> None:
    start_ms = 1_752_384_000_123
    assert first_chunk_ms(AI_SDK_STREAM, start_ms) == start_ms + 413
    # AI SDK 3's key, and a count sent as a string.
    assert first_chunk_ms({"ai.stream.msToFirstChunk": "250"}, start_ms) == start_ms + 250
    # The newer key wins, even at 0 (which is no count: no completion start).
    both = {"ai.response.msToFirstChunk": 0, "ai.stream.msToFirstChunk": 250}
    assert first_chunk_ms(both, start_ms) is None


@pytest.mark.parametrize("value", ["soon", "", None, float("nan"), float("inf"), 1e20])
def test_first_chunk_that_is_no_count_gives_no_completion_start(value: object) -> None:
    assert first_chunk_ms({"ai.response.msToFirstChunk": value}, 0) is None

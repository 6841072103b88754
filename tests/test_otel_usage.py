"""Token counts of OpenTelemetry spans, normalised as the Langfuse server does (shared rules)."""

from __future__ import annotations

import json

from langfuse_async._otel_usage import ai_sdk_type, is_agent_aggregate, model_name, usage_details


def test_semantic_convention_cache_counts_are_taken_out_of_input() -> None:
    # The server's own example: 48,183 input tokens of which 47,105 read from the cache and
    # 1,076 written to it; before, input was priced whole and the cache counts dropped.
    attrs = {
        "gen_ai.usage.input_tokens": 48183,
        "gen_ai.usage.output_tokens": 714,
        "gen_ai.usage.cache_read.input_tokens": 47105,
        "gen_ai.usage.cache_creation.input_tokens": 1076,
    }
    assert usage_details(attrs) == {
        "input": 2,
        "output": 714,
        "input_cached_tokens": 47105,
        "input_cache_creation": 1076,
    }


def test_reasoning_and_audio_are_taken_out_of_output_and_other_counts_kept() -> None:
    attrs = {
        "llm.token_count.prompt": "12",
        "llm.token_count.completion": 9,
        "llm.token_count.total": 21,
        "llm.token_count.completion_details.reasoning": 3,
        "llm.token_count.completion_details.audio": 2,
        "llm.token_count.prompt_details.audio": 1,
        "gen_ai.usage.details.image_tokens": 4,
    }
    assert usage_details(attrs) == {
        "input": 12,
        "output": 4,
        "total": 21,
        "output_reasoning_tokens": 3,
        "output_audio_tokens": 2,
        "prompt_details.audio": 1,
        "image_tokens": 4,
    }


def test_what_is_not_a_count_is_left_out() -> None:
    attrs = {
        "gen_ai.usage.cost": 0.5,  # a cost, read as one elsewhere
        "gen_ai.usage.input_tokens": "many",
        "gen_ai.usage.output_tokens": 3,
        "http.method": "GET",
    }
    assert usage_details(attrs) == {"output": 3}
    assert usage_details({"http.method": "GET"}) == {}


def test_input_never_goes_below_zero() -> None:
    attrs = {"gen_ai.usage.input_tokens": 5, "gen_ai.usage.cache_read_input_tokens": 9}
    assert usage_details(attrs) == {"input": 0, "input_cached_tokens": 9}


# --- the server's reading per instrumentation (extractUsageDetails) ----------------------------

#: An AI SDK 5 `ai.generateText.doGenerate` span of an OpenAI reasoning model, as it sends it.
AI_SDK_OPENAI = {
    "ai.operationId": "ai.generateText.doGenerate",
    "ai.model.id": "o4-mini",
    "ai.model.provider": "openai.responses",
    "ai.usage.promptTokens": 1200,
    "ai.usage.completionTokens": 300,
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "ai.response.providerMetadata": json.dumps(
        {
            "openai": {
                "responseId": "resp_1",
                "cachedPromptTokens": 1024,
                "reasoningTokens": 256,
                "acceptedPredictionTokens": 3,
                "rejectedPredictionTokens": 1,
            }
        }
    ),
}

#: Anthropic's usage as the AI SDK forwards it (the server's own example), with the AI SDK's
#: input count holding the cache reads and writes.
ANTHROPIC_METADATA = json.dumps(
    {
        "anthropic": {
            "usage": {
                "input_tokens": 7,
                "cache_creation_input_tokens": 2089,
                "cache_read_input_tokens": 16399,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 2000,
                    "ephemeral_1h_input_tokens": 89,
                },
                "output_tokens": 445,
                "service_tier": "standard",
            },
            "cacheCreationInputTokens": 2089,
            "stopSequence": None,
        }
    }
)


def test_ai_sdk_openai_cached_and_reasoning_tokens_from_provider_metadata() -> None:
    assert usage_details(AI_SDK_OPENAI, "ai") == {
        "input": 1200 - 1024,
        "output": 300 - 256,
        "input_cached_tokens": 1024,
        "output_reasoning_tokens": 256,
        "accepted_prediction_tokens": 3,
        "rejected_prediction_tokens": 1,
    }
    # The same span under another scope: the generic reading, which reads no OpenAI metadata.
    assert usage_details(AI_SDK_OPENAI, "other") == {"input": 1200, "output": 300}


def test_ai_sdk_usage_counts_win_over_provider_metadata() -> None:
    attrs = {
        **AI_SDK_OPENAI,
        "ai.usage.cachedInputTokens": 1000,
        "ai.usage.reasoningTokens": '{"intValue": "200"}',  # OTLP/JSON's shape, as a string
        "ai.usage.tokens": 1500,
    }
    usage = usage_details(attrs, "ai")
    assert (usage["input_cached_tokens"], usage["output_reasoning_tokens"]) == (1000, 200)
    assert (usage["input"], usage["output"], usage["total"]) == (200, 100, 1500)


def test_ai_sdk_anthropic_cache_writes_split_by_ttl() -> None:
    attrs = {
        "gen_ai.usage.input_tokens": 7 + 2089 + 16399,
        "gen_ai.usage.output_tokens": 445,
        "ai.response.providerMetadata": ANTHROPIC_METADATA,
    }
    assert usage_details(attrs, "ai") == {
        "input": 7,
        "output": 445,
        "input_cached_tokens": 16399,
        # The split is part of the whole: only what no TTL claims stays a plain write.
        "input_cache_creation": 0,
        "input_cache_creation_5m": 2000,
        "input_cache_creation_1h": 89,
    }


def test_ai_sdk_7_cache_counts_as_gen_ai_attributes_and_bedrock_names() -> None:
    attrs = {
        "gen_ai.usage.input_tokens": 5000,
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": "4000",
        "ai.response.providerMetadata": json.dumps(
            {
                "bedrock": {
                    "usage": {
                        "cacheReadInputTokens": 4482,
                        "cacheWriteInputTokens": 300,
                        "cacheCreationInputTokens": 0,
                    }
                }
            }
        ),
    }
    # Bedrock's counts keep their own names; its cache read is taken out of input as well
    # (twice over with the gen_ai one), its cache write is not taken out at all.
    assert usage_details(attrs, "ai") == {
        "input": 0,
        "output": 20,
        "input_cached_tokens": 4000,
        "input_cache_read": 4482,
        "input_cache_write": 300,
        "input_cache_creation": 0,
    }


def test_ai_sdk_outer_span_has_zero_input_and_output() -> None:
    # An ai.generateText span carries only ai.usage.promptTokens/completionTokens, which the
    # server does not read: it stores input and output 0 all the same.
    attrs = {"ai.usage.promptTokens": 10, "ai.usage.completionTokens": 4}
    assert usage_details(attrs, "ai") == {"input": 0, "output": 0}
    # Legacy names first; parseInt reads a leading integer.
    legacy = {"gen_ai.usage.prompt_tokens": "12.9", "gen_ai.usage.input_tokens": 99}
    assert usage_details(legacy, "ai") == {"input": 12, "output": 0}


def test_ai_sdk_metadata_the_server_cannot_read_falls_back_to_the_generic_reading() -> None:
    for metadata in ("{not json", "5", '{"openai": null}', '{"anthropic": "x"}'):
        attrs = {
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.usage.cache_read.input_tokens": 30,
            "gen_ai.usage.image_tokens": 2,
            "ai.response.providerMetadata": metadata,
        }
        assert usage_details(attrs, "ai") == {
            "input": 70,
            "output": 10,
            "input_cached_tokens": 30,
            "image_tokens": 2,
        }, metadata


def test_generic_reading_adds_anthropic_metadata_once() -> None:
    attrs = {
        "gen_ai.usage.input_tokens": 18495,
        "gen_ai.usage.output_tokens": 445,
        "gen_ai.usage.cache_read.input_tokens": 16399,
        "ai.response.providerMetadata": ANTHROPIC_METADATA,
    }
    # The cache read came from gen_ai (taken out already); the write and its split from the
    # metadata (taken out now, once).
    assert usage_details(attrs, "some.instrumentation") == {
        "input": 7,
        "output": 445,
        "input_cached_tokens": 16399,
        "input_cache_creation": 0,
        "input_cache_creation_5m": 2000,
        "input_cache_creation_1h": 89,
    }
    # No generic count at all: the metadata alone gives none.
    assert usage_details({"ai.response.providerMetadata": ANTHROPIC_METADATA}) == {}


def test_genkit_usage_from_its_output() -> None:
    output = {
        "message": {"role": "model", "content": [{"text": "hi"}]},
        "finishReason": "stop",
        "usage": {
            "inputTokens": 5,
            "outputTokens": 30,
            "thoughtsTokens": 12,
            "totalTokens": 47,
            "inputCharacters": 20,
            "cachedContentTokens": 0,
        },
    }
    attrs = {
        "genkit:type": "action",
        "genkit:metadata:subtype": "model",
        "genkit:name": "googleai/gemini-2.5-flash",
        "genkit:output": json.dumps(output),
    }
    assert usage_details(attrs, "genkit-tracer") == {
        "input": 5,
        "output": 18,
        "total": 47,
        "output_reasoning": 12,  # the server's name here, not output_reasoning_tokens
    }
    # Zero counts are left out; with no usage, the generic counts are read.
    zero = {"genkit:output": json.dumps({"usage": {"inputTokens": 0, "outputTokens": 3}})}
    assert usage_details(zero, "genkit-tracer") == {"output": 3}
    plain = {"genkit:output": '"text"', "gen_ai.usage.input_tokens": 4}
    assert usage_details(plain, "genkit-tracer") == {"input": 4}


def test_google_adk_cached_tokens_from_its_response() -> None:
    response = {
        "content": {"role": "model", "parts": [{"text": "sunny"}]},
        "usage_metadata": {
            "cached_content_token_count": 60,
            "candidates_token_count": 20,
            "prompt_token_count": 100,
            "total_token_count": 120,
        },
    }
    attrs = {
        "gen_ai.system": "gcp.vertex.agent",
        "gen_ai.request.model": "gemini-2.5-flash",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "gcp.vertex.agent.llm_response": json.dumps(response),
    }
    assert usage_details(attrs, "gcp.vertex.agent") == {
        "input": 40,
        "output": 20,
        "input_cached_tokens": 60,
    }
    # A cache count among the attributes wins; another scope reads no blob.
    with_cache = {**attrs, "gen_ai.usage.cache_read.input_tokens": 50}
    assert usage_details(with_cache, "gcp.vertex.agent")["input_cached_tokens"] == 50
    assert usage_details(attrs, "other") == {"input": 100, "output": 20}


def test_agent_spans_and_model_names() -> None:
    assert is_agent_aggregate({"gen_ai.operation.name": "invoke_agent"})
    assert is_agent_aggregate({"gen_ai.operation.name": "agent_step"})
    assert not is_agent_aggregate({"gen_ai.operation.name": "chat"})
    assert model_name({"ai.model.id": "gpt-4o", "gen_ai.request.model": "x"}) == "gpt-4o"
    genkit = {"genkit:name": "googleai/gemini-2.5-flash", "genkit:metadata:subtype": "model"}
    assert model_name(genkit) == "googleai/gemini-2.5-flash"
    assert model_name({"genkit:name": "myFlow", "genkit:metadata:subtype": "flow"}) is None
    assert model_name({"model": ["a", "b"], "llm.model_name": ""}) == '["a","b"]'


def test_ai_sdk_spans_typed_by_their_operation() -> None:
    call = {"ai.operationId": "ai.streamText.doStream", "ai.model.id": "gpt-4o"}
    assert ai_sdk_type(call) == "GENERATION"
    assert ai_sdk_type({**call, "ai.model.id": ""}) is None  # no model: the next rules'
    embed = {"operation.name": "ai.embedMany.doEmbed my-function", "gen_ai.request.model": "e"}
    assert ai_sdk_type(embed) == "EMBEDDING"
    assert ai_sdk_type({"ai.operationId": "ai.toolCall"}) == "TOOL"
    # The outer span has the model too, but is no model call: left to the next rules.
    assert ai_sdk_type({"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o"}) is None
    assert ai_sdk_type({"gen_ai.request.model": "gpt-4o"}) is None

"""Token counts of OpenTelemetry spans, normalised as the Langfuse server does (shared rules)."""

from __future__ import annotations

from langfuse_async._otel_usage import usage_details


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

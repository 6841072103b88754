"""The public surface: a curated, sorted ``__all__`` that resolves."""

from __future__ import annotations

import langfuse_async


def test_all_is_sorted_and_complete() -> None:
    names = langfuse_async.__all__
    assert names == sorted(names, key=str.casefold)
    for name in names:
        assert hasattr(langfuse_async, name), name
    # "@py_builtins" and the like: pytest rewrites the package when it loads as a plugin.
    public = {n for n in dir(langfuse_async) if not n.startswith(("_", "@"))}
    # Submodules are reachable but not re-exported names (the integrations once imported).
    submodules = {"testing", "annotations", "openai", "langchain", "opentelemetry"}
    assert public - set(names) <= submodules


def test_public_classes_show_the_public_module() -> None:
    assert langfuse_async.Langfuse.__module__ == "langfuse_async"
    assert langfuse_async.EventError.__module__ == "langfuse_async"
    assert repr(langfuse_async.observe).startswith("<function observe")


def test_get_client_always_has_the_full_client_interface(monkeypatch) -> None:
    from langfuse_async._tracing import registry

    state = registry._reset_for_tests()
    try:
        monkeypatch.setenv("LANGFUSE_SAMPLE_RATE", "not-a-number")  # the factory must fail
        client = langfuse_async.get_client()
        assert isinstance(client, langfuse_async.Langfuse)
        assert client.statistics().transport == "disabled"
    finally:
        registry._restore_for_tests(state)

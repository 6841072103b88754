"""Validate a response against a schema of the official OpenAPI spec (tests/data)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema

__all__ = ["SPEC", "check", "load_spec"]

# A copy of the official spec (see tests/data/SOURCES.md), so the tests run from any clone.
SPEC = Path(__file__).resolve().parent.parent / "data" / "langfuse-openapi.yml"


@functools.lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """The official spec, parsed once."""
    import yaml

    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return loaded


def check(spec: dict[str, Any], schema_name: str, value: Any) -> None:
    """Validate against a component of the spec (OpenAPI 3.0: nullable, allOf, $ref)."""

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: convert(v) for k, v in node.items()}
            if "$ref" in node:
                node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/$defs/")
            if node.pop("nullable", False):
                if "type" in node:
                    node["type"] = [node["type"], "null"]
                elif "$ref" in node or "allOf" in node:
                    node = {"anyOf": [node, {"type": "null"}]}
            return node
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    defs = convert(spec["components"]["schemas"])
    jsonschema.validate(value, {"$defs": defs, "$ref": f"#/$defs/{schema_name}"})

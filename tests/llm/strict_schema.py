#!/usr/bin/python3
"""Checks a JSON Schema the way an endpoint with strict structured outputs
does (OpenAI's `strict: true` for response_format json_schema and for
function parameters), before any answer is generated:

1. The schema is valid JSON Schema: it passes the meta-schema of the draft
   it declares ($schema), Draft 2020-12 when it declares none (Debian's
   python3-jsonschema).
2. It stays inside the strict subset: the root is an object; every object
   lists all its properties in `required` and has `additionalProperties:
   false`; an optional value is nullable through `type: [T, "null"]` or
   `anyOf` with `{"type": "null"}`; only supported keywords appear (no
   minLength/maxLength, no allOf/oneOf/not, no patternProperties ...);
   `type` names are strings from the JSON Schema set.

Used by fake_openai.py (which answers 400 `invalid_json_schema` like the
real endpoint) and, on its own, by schema_test:
    strict_schema.py FILE...   exit 0 if every file passes, else 1 with
                               the problems on stderr."""

import json
import sys

import jsonschema

TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
KEYWORDS = {
    "type", "description", "title", "enum", "const", "anyOf", "$ref",
    "$defs", "definitions", "$schema", "$id",
    # objects
    "properties", "required", "additionalProperties",
    # arrays
    "items", "minItems", "maxItems",
    # strings
    "pattern", "format",
    # numbers
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf",
}


def _types(node):
    t = node.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return t
    return []


def _walk(node, path, out):
    if not isinstance(node, dict):
        out.append("%s: a schema must be an object" % path)
        return
    for k in node:
        if k not in KEYWORDS:
            out.append("%s: keyword %r is not supported in strict mode" %
                       (path, k))
    t = node.get("type")
    if t is not None:
        names = [t] if not isinstance(t, list) else t
        if not names or any(not isinstance(x, str) or x not in TYPES
                            for x in names):
            out.append("%s: type must name JSON Schema types as strings, "
                       "got %s" % (path, json.dumps(t)))
    if "enum" in node and isinstance(node["enum"], list) and \
            None in node["enum"] and "null" not in _types(node):
        out.append("%s: enum allows null but type does not" % path)
    if "object" in _types(node) or "properties" in node:
        props = node.get("properties", {})
        req = node.get("required", [])
        if node.get("additionalProperties") is not False:
            out.append("%s: additionalProperties must be false" % path)
        missing = [p for p in props if p not in req]
        if missing:
            out.append("%s: every property must be required (missing %s)" %
                       (path, ", ".join(missing)))
        for name, sub in props.items():
            _walk(sub, "%s.%s" % (path, name), out)
    if "items" in node:
        _walk(node["items"], path + "[]", out)
    for i, sub in enumerate(node.get("anyOf", [])):
        _walk(sub, "%s.anyOf[%d]" % (path, i), out)
    for name, sub in node.get("$defs", {}).items():
        _walk(sub, "%s.$defs.%s" % (path, name), out)


def problems(schema):
    """The reasons schema would be refused, [] when it would be accepted."""
    out = []
    try:
        cls = jsonschema.validators.validator_for(
            schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        out.append("not valid JSON Schema: %s at %s" %
                   (e.message, "/".join(str(p) for p in e.absolute_path)))
    except Exception as e:  # a schema that is not even an object
        out.append("not valid JSON Schema: %s" % e)
    if isinstance(schema, dict) and schema.get("type") != "object":
        out.append("$: the root must be an object")
    _walk(schema, "$", out)
    return out


def main(paths):
    bad = 0
    for p in paths:
        with open(p) as f:
            errs = problems(json.load(f))
        for e in errs:
            print("%s: %s" % (p, e), file=sys.stderr)
        bad += bool(errs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

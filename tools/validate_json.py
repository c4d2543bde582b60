#!/usr/bin/env python3
"""Validates an snnconv report.json (or compare.json: each of its reports) against tools/report.schema.json.

Usage: validate_json.py SCHEMA.json INSTANCE.json [--builtin]

Uses the `jsonschema` package (Debian: python3-jsonschema) when present, else (or with --builtin) a small
validator of the subset the schema uses: type, enum, const, required, properties, patternProperties,
additionalProperties, items, minimum, minItems, $ref to #/definitions/..., anyOf. Exit 0 when valid; 1 and
every error (path and reason) otherwise.
"""
import json
import re
import sys

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}
KNOWN = {"$schema", "$id", "title", "description", "type", "enum", "const", "required", "properties",
         "patternProperties", "additionalProperties", "items", "minimum", "maximum", "minItems", "$ref", "anyOf", "definitions"}


def builtin_errors(schema, value, root, path="$"):
    unknown = set(schema) - KNOWN
    if unknown:
        raise SystemExit(f"schema keyword(s) {sorted(unknown)} at {path} are not supported by the builtin validator")
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/definitions/"):
            raise SystemExit(f"unsupported $ref {ref}")
        yield from builtin_errors(root["definitions"][ref.split("/")[-1]], value, root, path)
        return
    if "anyOf" in schema:
        if not any(not list(builtin_errors(s, value, root, path)) for s in schema["anyOf"]):
            yield f"{path}: matches none of anyOf"
        return
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[t](value) for t in types):
            yield f"{path}: {value!r:.60} is not of type {types}"
            return
    if "const" in schema and value != schema["const"]:
        yield f"{path}: {value!r} is not {schema['const']!r}"
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: {value!r} is not one of {schema['enum']}"
    if "minimum" in schema and TYPES["number"](value) and value < schema["minimum"]:
        yield f"{path}: {value} < minimum {schema['minimum']}"
    if "maximum" in schema and TYPES["number"](value) and value > schema["maximum"]:
        yield f"{path}: {value} > maximum {schema['maximum']}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            yield f"{path}: fewer than {schema['minItems']} items"
        if "items" in schema:
            for i, v in enumerate(value):
                yield from builtin_errors(schema["items"], v, root, f"{path}[{i}]")
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                yield f"{path}: missing required key {k!r}"
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            matched = False
            if k in props:
                matched = True
                yield from builtin_errors(props[k], v, root, f"{path}.{k}")
            for pat, sub in patterns.items():
                if re.search(pat, k):
                    matched = True
                    yield from builtin_errors(sub, v, root, f"{path}.{k}")
            if not matched:
                if extra is False:
                    yield f"{path}: unexpected key {k!r}"
                elif isinstance(extra, dict):
                    yield from builtin_errors(extra, v, root, f"{path}.{k}")


def errors(schema, instance, builtin):
    if not builtin:
        try:
            import jsonschema
        except ImportError:
            builtin = True
    if builtin:
        return "builtin", list(builtin_errors(schema, instance, schema))
    validator = jsonschema.Draft7Validator(schema)
    found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    from importlib.metadata import version
    return "jsonschema " + version("jsonschema"), [
        "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path) + ": " + e.message
        for e in found
    ]


def main(argv):
    builtin = "--builtin" in argv
    args = [a for a in argv if a != "--builtin"]
    if len(args) != 2:
        sys.exit(__doc__)
    schema = json.load(open(args[0], encoding="utf-8"))
    instance = json.load(open(args[1], encoding="utf-8"))
    reports = instance["reports"] if isinstance(instance, dict) and instance.get("schema") == "snnconv-compare" \
        else [instance]
    bad = []
    engine = ""
    for i, r in enumerate(reports):
        engine, errs = errors(schema, r, builtin)
        bad += [(f"reports[{i}] " if len(reports) > 1 else "") + e for e in errs]
    if bad:
        print(f"{args[1]}: INVALID ({engine}), {len(bad)} errors:")
        for e in bad[:50]:
            print("  " + e)
        return 1
    print(f"{args[1]}: valid ({engine}; {len(reports)} report{'s' if len(reports) > 1 else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

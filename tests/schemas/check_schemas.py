#!/usr/bin/env python3
"""Checks schemas/*.schema.json against the JSON Schema draft-07 meta-schema.

Run by schema_validator_test (SchemasPassTheDraft07MetaSchema) when python3 has the jsonschema
module; exits non-zero and names the problem otherwise.
"""
import json
import pathlib
import re
import sys

import jsonschema

ROOT = pathlib.Path(__file__).resolve().parents[2]


def patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from patterns(value)


def main():
    failed = False
    for name in ("flow.schema.json", "config.schema.json"):
        path = ROOT / "schemas" / name
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft7Validator.check_schema(schema)
            for pattern in patterns(schema):
                re.compile(pattern)
        except (ValueError, jsonschema.exceptions.SchemaError, re.error) as error:
            print(f"{path}: {error}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Validates samples of real bridge output against docs/schema/.

Usage: validate-schemas.py SCHEMA_DIR SAMPLES_DIR
SAMPLES_DIR holds one JSON document per file, named <schema>.<n>.json, where <schema> is a
path under SCHEMA_DIR with '/' written as '~' (e.g. entries~agg_trade.3.json, reply.1.json).
Prints one line per failure; exit status 1 if any sample fails, 2 on usage errors.
"""
import json
import os
import sys

try:
    import jsonschema
    from referencing import Registry, Resource
except ImportError:
    print("validate-schemas: python3 module jsonschema missing (pip install jsonschema)", file=sys.stderr)
    sys.exit(2)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    schema_dir, samples_dir = sys.argv[1], sys.argv[2]
    schemas = {}
    resources = []
    for folder, _, files in os.walk(schema_dir):
        for name in files:
            if not name.endswith(".json"):
                continue
            path = os.path.join(folder, name)
            with open(path) as handle:
                schema = json.load(handle)
            jsonschema.Draft202012Validator.check_schema(schema)
            relative = os.path.relpath(path, schema_dir)[: -len(".json")]
            schemas[relative] = schema
            resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    failures = 0
    checked = {}
    for name in sorted(os.listdir(samples_dir)):
        schema_name = name.rsplit(".", 2)[0].replace("~", "/")
        if schema_name not in schemas:
            print(f"{name}: no schema {schema_name}")
            failures += 1
            continue
        with open(os.path.join(samples_dir, name)) as handle:
            document = json.load(handle)
        validator = jsonschema.Draft202012Validator(schemas[schema_name], registry=registry)
        for error in validator.iter_errors(document):
            print(f"{name}: {error.json_path}: {error.message[:300]}")
            failures += 1
        checked[schema_name] = checked.get(schema_name, 0) + 1
    for schema_name in sorted(checked):
        print(f"ok {checked[schema_name]:5d} {schema_name}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

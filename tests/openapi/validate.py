"""Checks openapi.json with real validators.

usage: validate.py <openapi.json> [<samples.json>]

1. The document itself: openapi-spec-validator (OpenAPI 3.1 rules, every $ref resolves).
2. Live responses (when a samples file is given): each sample is one response the test got from
   the running Worker, {"method", "path" (as requested; matched to its documented template),
   "status", "contentType",
   "body" (parsed JSON or null), "text" (the raw body when it is not JSON)}. Its status must be documented for the operation, its media type
   must be one the operation documents for that status, and a JSON body (each NDJSON line, each
   event-stream `data:` line) must validate against
   the documented schema (openapi-schema-validator's OAS 3.1 dialect). Every documented
   operation must have at least one sample, so a new endpoint cannot go untested.

Prints one JSON line {"operations", "samples", "errors": [...]} and exits 1 on any error.
"""
import json
import sys

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
ROOT = "urn:flotilla-openapi"


def pointer(*parts):
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    spec = json.load(open(sys.argv[1]))
    validate(spec)
    errors = []
    ops = {(m, path): op for path, item in spec["paths"].items() for m, op in item.items() if m in METHODS}
    samples = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else []
    registry = Registry().with_resource(ROOT, Resource.from_contents(spec, default_specification=DRAFT202012))
    seen = set()
    seen_ok = set()
    bare = {"$ref": "#/components/schemas/CfEnvelope"}
    for (m, path), op in sorted(ops.items()):
        for code, resp in op.get("responses", {}).items():
            if not code.startswith("2") or "$ref" in resp:
                continue
            for media, c in resp.get("content", {}).items():
                if c.get("schema") == bare:
                    errors.append(f"{m.upper()} {path} -> {code}: documented only as the bare CfEnvelope (say what `result` holds)")
    templates = [(t, t.strip("/").split("/")) for t in spec["paths"]]

    def template_of(path):
        """The documented template a concrete path matches; literal segments beat parameters."""
        segs = path.split("?")[0].strip("/").split("/")
        best = None
        for t, tsegs in templates:
            if len(tsegs) != len(segs):
                continue
            if all(a == b or (a.startswith("{") and a.endswith("}") and b) for a, b in zip(tsegs, segs)):
                literal = sum(1 for a in tsegs if not a.startswith("{"))
                if best is None or literal > best[0]:
                    best = (literal, t)
        return best[1] if best else path

    for s in samples:
        s["path"] = template_of(s["path"])
        key = (s["method"].lower(), s["path"])
        where = f'{s["method"]} {s["path"]} -> {s["status"]}'
        op = ops.get(key)
        fallback = spec.get("x-unsupported-fallback")
        if op is None and fallback and s["path"].startswith(fallback["prefix"]):
            # An undocumented call below the prefix must get the documented fallback answer.
            if s["status"] != fallback["status"]:
                errors.append(f"{where}: not documented, and not the {fallback['status']} fallback")
                continue
            op = {"responses": {str(fallback["status"]): {"$ref": fallback["response"]}}}
        elif op is None:
            errors.append(f"{where}: operation not documented")
            continue
        else:
            seen.add(key)
            if 200 <= int(s["status"]) < 300:
                seen_ok.add(key)
        responses = op.get("responses", {})
        code = str(s["status"])
        if code in responses:
            resp_key = code
        elif f"{code[0]}XX" in responses:
            resp_key = f"{code[0]}XX"
        elif "default" in responses:
            resp_key = "default"
        else:
            errors.append(f"{where}: status not documented (documented: {sorted(responses)})")
            continue
        resp = responses[resp_key]
        if "$ref" in resp:
            name = resp["$ref"].rsplit("/", 1)[-1]
            resp = spec["components"]["responses"][name]
            base = pointer("components", "responses", name)
        else:
            base = pointer("paths", s["path"], key[0], "responses", resp_key)
        content = resp.get("content")
        if not content:
            continue
        media = (s.get("contentType") or "").split(";")[0].strip().lower()
        if media not in content:
            errors.append(f"{where}: content type {media!r} not documented (documented: {sorted(content)})")
            continue
        schema = content[media].get("schema")
        if media == "application/x-ndjson":
            # NDJSON: every line is one JSON value, checked against `x-item-schema`.
            item = content[media].get("x-item-schema")
            if item is None:
                errors.append(f"{where}: NDJSON response without x-item-schema")
                continue
            item_ref = {"$ref": f"{ROOT}#/{base}/content/{pointer(media)}/x-item-schema"}
            for n, line in enumerate((s.get("text") or "").splitlines(), 1):
                try:
                    value = json.loads(line)
                except ValueError:
                    errors.append(f"{where}: line {n} is not JSON")
                    continue
                for e in OAS31Validator(item_ref, registry=registry).iter_errors(value):
                    errors.append(f"{where}: line {n}: {e.message[:300]}")
            continue
        if media == "text/event-stream" and "x-item-schema" in content[media]:
            # Server-Sent Events: every `data:` line is one JSON value, checked like NDJSON.
            item_ref = {"$ref": f"{ROOT}#/{base}/content/{pointer(media)}/x-item-schema"}
            for n, line in enumerate((s.get("text") or "").splitlines(), 1):
                if not line.startswith("data: "):
                    continue
                try:
                    value = json.loads(line[6:])
                except ValueError:
                    errors.append(f"{where}: line {n} is not JSON")
                    continue
                for e in OAS31Validator(item_ref, registry=registry).iter_errors(value):
                    errors.append(f"{where}: line {n}: {e.message[:300]}")
            continue
        if schema is None or not media.endswith("json"):
            continue
        if s.get("body") is None:
            errors.append(f"{where}: documented as JSON but the body did not parse")
            continue
        ref = {"$ref": f"{ROOT}#/{base}/content/{pointer(media)}/schema"}
        validator = OAS31Validator(ref, registry=registry)
        for e in sorted(validator.iter_errors(s["body"]), key=lambda e: list(e.path)):
            at = "/".join(str(p) for p in e.path) or "(root)"
            errors.append(f"{where}: body at {at}: {e.message[:300]}")
    if samples:
        for m, path in sorted(set(ops) - seen):
            errors.append(f"{m.upper()} {path}: no live sample (add one to tests/integration/openapi.test.mjs)")
        for m, path in sorted(set(ops) - seen_ok):
            if any(c.startswith("2") for c in ops[(m, path)].get("responses", {})):
                errors.append(f"{m.upper()} {path}: no live sample with a success status")
    print(json.dumps({"operations": len(ops), "samples": len(samples), "errors": errors}))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with seeds: the repo's golden requests (tests/fixtures/**/input.json,
# tests/fixtures/corpus/*.json), the filters, PATCH paths and rule paths found in them, and a few
# hand-written paths and filters. Idempotent (files are named by content hash); corpora are not
# committed, so run.sh calls this before every run. Needs python3 (stdlib only).
set -euo pipefail
cd "$(dirname "$0")"
exec python3 - "$@" <<'PY'
import glob, hashlib, json, os, re, urllib.parse

ROOT = ".."
ROUTE = "/t/scim/v2"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
seeds = {t: set() for t in ("filter_path", "canonical_path", "strict_json", "whole_request", "partial_answer")}

def add(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    seeds[target].add(data)

def walk(v, key=None):
    """Every (key, value) pair in a JSON value."""
    if isinstance(v, dict):
        for k, c in v.items():
            yield k, c
            yield from walk(c, k)
    elif isinstance(v, list):
        for c in v:
            yield from walk(c, key)

def scim_strings(body):
    """Filters, PATCH paths, attribute lists in a body."""
    for k, v in walk(body):
        if not isinstance(v, str):
            continue
        kl = k.lower()
        if kl == "filter" or kl in ("attributes", "excludedattributes", "sortby"):
            yield v
        elif kl == "path" and not v.startswith("/"):
            yield v

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
STATUSES = [200, 201, 400, 404]

def first_byte(method, response=False, status=200, split=False):
    """whole_request's first byte: method % 5, bit 6 the "split" tenant, bit 7 a response."""
    m = METHODS.index(method.upper()) if method.upper() in METHODS else 0
    s = STATUSES.index(status) if status in STATUSES else 0
    return next(b for b in range(0x100) if b % 5 == m and bool(b & 0x40) == split
                and bool(b & 0x80) == response and (not response or (b >> 3) % 4 == s))

def request(method, path, body, response=False, status=200):
    if not isinstance(path, str):
        return
    raw = path.split("?", 1)[0]
    add("canonical_path", raw)
    q = path.split("?", 1)[1] if "?" in path else ""
    for name, vals in urllib.parse.parse_qs(q, keep_blank_values=True).items():
        if name.lower() in ("filter", "attributes", "excludedattributes", "sortby"):
            for v in vals:
                add("filter_path", v)
    text = None
    if body is not None:
        text = json.dumps(body, ensure_ascii=False)
        if isinstance(body, dict):
            add("strict_json", text)
        for s in scim_strings(body):
            add("filter_path", s)
    tail = b"" if text is None else b"\n" + text.encode()
    for p in (path, ROUTE + path):
        add("whole_request", bytes([first_byte(method, response, status)]) + p.encode() + tail)
    if "bulk" in path.lower():
        add("whole_request", bytes([first_byte(method, response, status, True)]) + path.encode() + tail)

for f in sorted(glob.glob(f"{ROOT}/tests/fixtures/**/input.json", recursive=True)):
    with open(f, encoding="utf-8") as fh:
        case = json.load(fh)
    request(case.get("method", "GET"), case.get("path"), case.get("body"),
            case.get("direction") == "response", case.get("status", 200))
    if case.get("direction") == "response":
        # the same body as a request, too
        request(case.get("method", "GET"), case.get("path"), case.get("body"))

for f in sorted(glob.glob(f"{ROOT}/tests/fixtures/**/rules.toml", recursive=True)):
    with open(f, encoding="utf-8") as fh:
        for m in re.finditer(r'^\s*(?:from|to|path)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')', fh.read(), re.M):
            add("filter_path", m.group(1) if m.group(1) is not None else m.group(2))

for f in sorted(glob.glob(f"{ROOT}/tests/fixtures/corpus/*.json")):
    with open(f, encoding="utf-8") as fh:
        case = json.load(fh)
    for side in ("request", "upstream"):
        r = case.get(side) or {}
        request(r.get("method", "GET"), r.get("path"), r.get("body"))

FILTERS = [
    'userName eq "bjensen"',
    'name.familyName co "O\'Malley"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
    'title pr and (userType eq "Employee" or userType eq "Intern")',
    'not (emails co "example.com")',
    'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp"]',
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    'externalId eq jyoung',
    'active eq True',
    'x eq -1.5e-3 and y ne 18446744073709551615 or z le null',
    'emails[type eq "work"].value',
    'members[value eq "2819c223"]',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value',
    'name.givenName',
    '"\\u00e9\\ud83d\\ude00"',
    'a eq "\\"" and b eq "\\\\"',
    '((((a pr))))',
    'password',
    'PASSWORD.x',
]
for s in FILTERS:
    add("filter_path", s)

PATHS = [
    "", "/", "/Users", "/Users/2819c223", "//Users///x/", "/Users/a%20b", "/Users/...",
    "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "/Users/.search", "/Bulk",
    "/..", "/../x", "/Users/../../admin", "/.", "/%2e%2e/x", "/%2E%2E", "/.%2e/x",
    "/Users/%2fetc", "/Users/%5c..", "/a\\..", "/x%00", "/x%0a", "/Users;x=1", "/..;/x",
    "/Users/%252e%252e", "/Users/%c0%ae%c0%ae", "/Users/\uff0e\uff0e", "/Users/.. ",
    "/%55sers/%7e", "/Users/a%2", "/Users/bjensen@example.com",
]
for p in PATHS:
    add("canonical_path", p)
    add("whole_request", bytes([0]) + p.encode())

JSONS = [
    '{}', '{"a":1,"A":2}', '{"a":1,"a":2}', '{"a":{"b":[{"c":1,"C":2}]}}',
    '{"x":1e400}', '{"x":-0.0,"y":1.7976931348623157e308,"z":5e-324}',
    '{"s":"\\ud800"}', '{"s":"\\ud83d\\ude00"}', '[1]', '{"a":1} x',
    '{"a":' * 70 + '1' + '}' * 70, '{"userName":"x","password":"p","PASSWORD":"q"}',
]
for j in JSONS:
    add("strict_json", j)

USER = {"schemas": [CORE], "userName": "bjensen", "password": "t1meMa$heen",
        "emails": [{"type": "work", "value": "BJ@Example.COM"}], "userType": "Employee"}
PATCH = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
    {"op": "Replace", "path": "password", "value": "x"},
    {"op": "add", "value": {"password": "y", "name.givenName": "B"}},
    {"op": "add", "path": CORE + ":password", "value": "z"}]}
BULK = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
    {"method": "POST", "path": "/Users", "bulkId": "1", "data": USER},
    {"method": "PATCH", "path": "/Users/1", "data": PATCH},
    {"method": "DELETE", "path": "/Users/2"}, {"method": "DELETE", "path": "/Users/3"}]}
for m, p, b in [("POST", "/Users", USER), ("PUT", "/Users/1", USER), ("PATCH", "/Users/1", PATCH),
                ("POST", "/Bulk", BULK), ("POST", "/Users/.search", {"filter": 'password pr'}),
                ("GET", "/Users?filter=userName%20eq%20x&attributes=password", None)]:
    request(m, p, b)

# partial_answer: first byte = tenant (bit 0), path (bits 1-2: /Users /Groups /Users/x /Bulk).
WX = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
def answer_user(i):
    return {"schemas": [CORE, WX], "id": f"u{i}", "userName": f"user{i}@example.com",
            "name": {"givenName": "T", "middleName": "M"}, "title": "Boss\u00e9 \"x\"", "nickName": "n",
            "phoneNumbers": [{"type": "work", "value": "+1"}], "emails": [{"value": "a@b", "primary": True}],
            WX: {"extensionAttribute1": "Sales", "extensionAttribute3": None}, ENT: {"costCenter": 1.5e3},
            "meta": {"resourceType": "User", "version": "W/\"1\""}}
GROUP = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "externalId": "label",
         "members": [{"value": "u1"}], "meta": {"resourceType": "Group"}}
LIST = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 3,
        "Resources": [answer_user(0), answer_user(1), GROUP, 7, None]}
# Resources of one shape in a row, then of another (a plan made, replayed, then refused).
SHAPES = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
          "Resources": [answer_user(i) for i in range(4)] + [dict(answer_user(i), **{WX: None}) for i in (4, 5)]
          + [dict(answer_user(6), schemas=[WX, CORE]), answer_user(7)]}
for doc, path in [(LIST, 0), (answer_user(2), 2), (GROUP, 1), (LIST, 1), (SHAPES, 0)]:
    for text in (json.dumps(doc), json.dumps(doc, indent=2), json.dumps(doc, ensure_ascii=False)):
        for tenant in (0, 1):
            add("partial_answer", bytes([tenant | path << 1]) + text.encode())
for f in sorted(glob.glob(f"{ROOT}/tests/fixtures/**/input.json", recursive=True)):
    with open(f, encoding="utf-8") as fh:
        case = json.load(fh)
    if case.get("direction") == "response" and isinstance(case.get("body"), dict):
        add("partial_answer", bytes([1]) + json.dumps(case["body"]).encode())

for target, datas in seeds.items():
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for data in datas:
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as fh:
            fh.write(data)
    print(f"seed: {len(os.listdir(d)):5d} files in {d}")
PY

#!/usr/bin/env python3
"""The soak load for scimgate (started by benches/soak/run.sh; standard library only).

    driver.py --gateway 127.0.0.1:PORT --admin 127.0.0.1:PORT --pid PID --log FILE
              --token TOKEN --minutes M --out DIR [--workers N]

For M minutes, real HTTP/1.1 over loopback:
- good load (~90 % of requests): N keep-alive connections, each running user lifecycles on the
  passthrough tenant `/pass` or the Entra-style translating tenant `/entra` (both in front of
  scim2-server): POST /Users, GET /Users/{id}, PATCH, GET /Users?filter=, GET /Users?count=10,
  DELETE; every 50 lifecycles a connection is closed and opened again;
- faulty clients (~10 %), in turn: a slowloris head, a connection that sends nothing, a body cut
  off (half of them with RST), an oversized body declared and chunked, malformed JSON, a bad
  token, an unknown tenant, and requests to `/bad`, whose target (faulty_upstream.py) hangs,
  trickles, resets, closes, sends garbage or 20 MiB, or answers well (picked at random).
Every answer is checked against what the gateway should say; every 10 s the gateway's VmRSS
and open descriptors go to DIR/samples.csv. After the load: 30 s of quiet, one more sample,
then the summary (DIR/summary.txt): memory and descriptors, panics in the gateway's log,
requests by status class from scimgate_requests_total, and every unexpected answer.
"""
import argparse
import asyncio
import json
import os
import random
import socket
import struct
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict

SAMPLE_EVERY = 10.0
WARMUP = 60.0
QUIET_AFTER = 30.0
REQ_TIMEOUT = 30.0

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Http:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.r = self.w = None

    async def close(self):
        if self.w:
            self.w.close()
            try:
                await self.w.wait_closed()
            except OSError:
                pass
        self.r = self.w = None

    async def request(self, method, path, token=None, body=None, ctype="application/scim+json"):
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            head += f"Content-Type: {ctype}\r\nContent-Length: {len(data)}\r\n"
        self.w.write(head.encode() + b"\r\n" + data)
        try:
            status, headers, payload = await asyncio.wait_for(read_response(self.r), REQ_TIMEOUT)
        except BaseException:
            await self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, payload


async def read_response(r):
    line = await r.readline()
    if not line:
        raise ConnectionError("closed before an answer")
    status = int(line.split()[1])
    headers = {}
    while True:
        h = await r.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        payload = await r.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        payload = b""
        while True:
            size = int((await r.readline()).split(b";")[0], 16)
            if size == 0:
                await r.readline()
                break
            payload += await r.readexactly(size)
            await r.readline()
    else:
        payload = await r.read()
    return status, headers, payload


class Stats:
    def __init__(self):
        self.good = Counter()  # (tenant, step, status)
        self.faults = Counter()  # (kind, outcome)
        self.unexpected = Counter()  # description
        self.examples = {}
        self.slowest = defaultdict(float)  # fault kind -> seconds
        self.good_done = 0
        self.latency = []  # seconds, every good request answered
        self.faults_started = 0

    def miss(self, what, detail):
        self.unexpected[what] += 1
        self.examples.setdefault(what, detail[:300])


def user_body(tenant, name):
    if tenant == "entra":  # what Entra sends: string booleans, an enterprise extension, "" to clear
        return {
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "externalId": name,
            "userName": name,
            "active": "True",
            "displayName": "Soak User",
            "name": {"formatted": "Soak User", "familyName": "User", "givenName": "Soak"},
            "emails": [{"primary": True, "type": "work", "value": name.upper()}],
            "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100"}],
            "title": "",
            ENTERPRISE: {"department": "Sales", "employeeNumber": "123"},
        }
    return {"schemas": [USER_SCHEMA], "userName": name, "active": True,
            "name": {"givenName": "Soak", "familyName": "User"},
            "emails": [{"type": "work", "value": name, "primary": True}]}


def patch_body(tenant):
    if tenant == "entra":
        ops = [{"op": "Replace", "path": "displayName", "value": "New Name"},
               {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Ops"},
               {"op": "Replace", "path": "active", "value": "False"}]
    else:
        ops = [{"op": "replace", "path": "displayName", "value": "New Name"},
               {"op": "replace", "path": "active", "value": False}]
    return {"schemas": [PATCHOP], "Operations": ops}


async def good_worker(wid, args, stats, stop):
    tenant = "pass" if wid % 2 == 0 else "entra"
    base = f"/{tenant}/scim/v2"
    conn = Http(*args.gw)
    n = 0

    async def step(name, method, path, want, body=None):
        started = time.monotonic()
        try:
            status, payload = await conn.request(method, path, args.token, body)
            stats.latency.append(time.monotonic() - started)
        except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError) as e:
            stats.good[(tenant, name, "error")] += 1
            stats.miss(f"good {tenant} {name}: {type(e).__name__}", repr(e))
            return None, None
        stats.good[(tenant, name, status)] += 1
        stats.good_done += 1
        if status not in want:
            stats.miss(f"good {tenant} {name}: {status}", payload.decode("utf-8", "replace"))
        return status, payload

    while not stop.is_set():
        n += 1
        name = f"soak-{wid}-{n}-{random.randrange(1 << 30)}@example.com"
        status, payload = await step("POST", "POST", f"{base}/Users", (201,), user_body(tenant, name))
        if status == 201:
            uid = json.loads(payload)["id"]
            await step("GET id", "GET", f"{base}/Users/{uid}", (200,))
            await step("PATCH", "PATCH", f"{base}/Users/{uid}", (200, 204), patch_body(tenant))
            q = urllib.parse.quote(f'userName eq "{name}"')
            await step("GET filter", "GET", f"{base}/Users?filter={q}", (200,))
            await step("GET list", "GET", f"{base}/Users?count=10", (200,))
            await step("DELETE", "DELETE", f"{base}/Users/{uid}", (204,))
        else:
            await asyncio.sleep(0.1)
        if n % 50 == 0:
            await conn.close()
    await conn.close()


async def raw_open(args):
    return await asyncio.open_connection(*args.gw)


async def answer_of(r, within):
    """The status of the answer on `r` within `within` s, 'eof' if closed first, 'none' if nothing."""
    try:
        line = await asyncio.wait_for(r.readline(), within)
    except asyncio.TimeoutError:
        return "none"
    except (ConnectionError, OSError):
        return "reset"
    if not line:
        return "eof"
    try:
        return int(line.split()[1])
    except (IndexError, ValueError):
        return "garbled"


async def fault_slowloris(args):
    """A head sent one byte every 500 ms: 408 and a close within --header-timeout-ms (10 s)."""
    r, w = await raw_open(args)
    head = (f"GET /pass/scim/v2/Users HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {args.token}\r\n"
            + "X-Slow: " + "a" * 100).encode()
    answer = asyncio.ensure_future(answer_of(r, 20))

    async def drip():
        try:
            for b in head:
                w.write(bytes([b]))
                await asyncio.sleep(0.5)
        except (ConnectionError, OSError):
            pass
    dripping = asyncio.ensure_future(drip())
    try:
        return await answer, (408,)
    finally:
        dripping.cancel()
        w.close()


async def fault_silent(args):
    """Connects, says nothing: closed quietly within the header timeout."""
    r, w = await raw_open(args)
    try:
        return await answer_of(r, 20), ("eof", "reset")
    finally:
        w.close()


async def fault_cut_body(args):
    """Declares 4000 bytes, sends 1000, goes away (every other time with RST)."""
    r, w = await raw_open(args)
    body = json.dumps(user_body("entra", "cut@example.com")).encode().ljust(4000)
    w.write(f"POST /entra/scim/v2/Users HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {args.token}\r\n"
            f"Content-Type: application/scim+json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:1000])
    await w.drain()
    await asyncio.sleep(0.2)
    if random.random() < 0.5:
        w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.close()
    return "gone", ("gone",)


async def fault_oversize(args, chunked):
    """2 MiB against max_body_bytes 1 MiB, declared or chunked: 413 (the body still being sent)."""
    r, w = await raw_open(args)
    size = 2 << 20
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    w.write(f"POST /pass/scim/v2/Users HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {args.token}\r\n"
            f"Content-Type: application/scim+json\r\n{framing}\r\n\r\n".encode())
    answer = asyncio.ensure_future(answer_of(r, 20))

    async def send():
        block = b" " * 65536
        try:
            for _ in range(size // len(block)):
                w.write((b"10000\r\n" + block + b"\r\n") if chunked else block)
                await w.drain()
            if chunked:
                w.write(b"0\r\n\r\n")
        except (ConnectionError, OSError):
            pass
    sending = asyncio.ensure_future(send())
    try:
        return await answer, (413,)
    finally:
        sending.cancel()
        w.close()


async def fault_request(args, method, path, token, body, want):
    conn = Http(*args.gw)
    try:
        status, _ = await conn.request(method, path, token, body)
        return status, want
    finally:
        await conn.close()


BAD_MODES = {"ok": (200,), "hang": (504,), "trickle": (504,), "reset": (502,),
             "close": (502,), "garbage": (502,), "huge": (502,)}


async def fault_bad_upstream(args):
    mode = random.choice(list(BAD_MODES))
    status, want = await fault_request(args, "GET", f"/bad/scim/v2/Users/{mode}", args.token, None, BAD_MODES[mode])
    return status, want, f"bad upstream {mode}"


FAULTS = [
    ("slowloris head", fault_slowloris),
    ("silent connection", fault_silent),
    ("body cut off", fault_cut_body),
    ("oversize declared", lambda a: fault_oversize(a, False)),
    ("oversize chunked", lambda a: fault_oversize(a, True)),
    ("malformed JSON", lambda a: fault_request(a, "POST", "/entra/scim/v2/Users", a.token,
                                               b'{"schemas":["' + USER_SCHEMA.encode() + b'"],"userName": ', (400,))),
    ("bad token", lambda a: fault_request(a, "GET", "/pass/scim/v2/Users", "not-the-token", None, (401,))),
    ("unknown tenant", lambda a: fault_request(a, "GET", "/nobody/scim/v2/Users", a.token, None, (404,))),
    ("bad upstream", fault_bad_upstream),
    ("bad upstream", fault_bad_upstream),
]


async def one_fault(i, args, stats, sem):
    kind, fn = FAULTS[i % len(FAULTS)]
    started = time.monotonic()
    try:
        out = await fn(args)
        status, want = out[0], out[1]
        if len(out) > 2:
            kind = out[2]
    except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError) as e:
        status, want = type(e).__name__, ()
    finally:
        sem.release()
    took = time.monotonic() - started
    stats.faults[(kind, status)] += 1
    stats.slowest[kind] = max(stats.slowest[kind], took)
    if status not in want:
        stats.miss(f"fault {kind}: {status}", f"wanted {want}")


async def fault_dispatcher(args, stats, stop):
    sem = asyncio.Semaphore(args.max_faults)
    tasks = set()
    i = 0
    while not stop.is_set():
        # ~10 % of all requests: one fault per nine good requests.
        if stats.faults_started * 9 < stats.good_done:
            await sem.acquire()
            stats.faults_started += 1
            t = asyncio.ensure_future(one_fault(i, args, stats, sem))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            i += 1
        else:
            await asyncio.sleep(0.005)
    if tasks:
        await asyncio.wait(tasks, timeout=25)
    for t in tasks:
        t.cancel()


def proc_sample(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def metrics(admin):
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=10) as r:
        return r.read().decode()


async def sampler(args, stats, stop, rows, t0):
    while True:
        t = time.monotonic() - t0
        rss, fds = proc_sample(args.pid)
        rows.append((round(t), "load", rss, fds, stats.good_done, stats.faults_started))
        print(f"[soak] t={t:5.0f}s rss={rss / 1024:6.1f} MiB fds={fds:4d} good={stats.good_done} "
              f"faults={stats.faults_started} unexpected={sum(stats.unexpected.values())}", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
            return
        except asyncio.TimeoutError:
            pass


def summarize(args, stats, rows, idle):
    out = []
    p = out.append
    load = [r for r in rows if r[1] == "load"]
    after = [r for r in rows if r[1] == "after"][-1]
    base = next((r for r in load if r[0] >= WARMUP), load[0])
    steady = [r for r in load if r[0] >= base[0]]
    p(f"soak: {args.minutes} min, {args.workers} good connections, gateway pid {args.pid}, {os.cpu_count()} cores")
    p(f"{'':24}{'RSS MiB':>10}{'fds':>8}")
    p(f"{'idle, before load':24}{idle[0] / 1024:10.1f}{idle[1]:8d}")
    p(f"{'baseline (t=' + str(base[0]) + ' s)':24}{base[2] / 1024:10.1f}{base[3]:8d}")
    p(f"{'max after warm-up':24}{max(r[2] for r in steady) / 1024:10.1f}{max(r[3] for r in steady):8d}")
    p(f"{'min after warm-up':24}{min(r[2] for r in steady) / 1024:10.1f}{min(r[3] for r in steady):8d}")
    p(f"{'last during load':24}{load[-1][2] / 1024:10.1f}{load[-1][3]:8d}")
    p(f"{'after (+' + str(int(QUIET_AFTER)) + ' s quiet)':24}{after[2] / 1024:10.1f}{after[3]:8d}")
    for col, name in ((2, "RSS"), (3, "fds")):
        hi = max(r[col] for r in steady) / base[col] - 1
        lo = min(r[col] for r in steady) / base[col] - 1
        flat = hi <= 0.10 and lo >= -0.10
        p(f"{name} after warm-up: {lo * 100:+.1f} % .. {hi * 100:+.1f} % of baseline: "
          f"{'flat within 10 %' if flat else 'NOT flat within 10 %'}"
          f"{'' if flat or hi > 0.10 else ' (below it only: no growth)'}")
    rss_back = after[2] <= base[2] * 1.10
    p(f"RSS after the load: {after[2] / base[2] * 100 - 100:+.1f} % of baseline "
      f"({'back within 10 %' if rss_back else 'NOT back within 10 %'})")
    p(f"fds after the load: {after[3]} (idle before load: {idle[1]}; "
      f"{'back to idle' if after[3] <= idle[1] + 2 else 'NOT back to idle'})")
    with open(args.log, errors="replace") as f:
        panics = sum(line.count("panicked") for line in f)
    p(f"'panicked' in the gateway log: {panics}")
    classes = Counter()
    tenants = Counter()
    upstream = Counter()
    text = metrics(args.admin)
    with open(os.path.join(args.out, "metrics.txt"), "w") as f:
        f.write(text)
    for line in text.splitlines():
        if line.startswith("scimgate_upstream_errors_total{"):
            labels, value = line.rsplit(" ", 1)
            kind = labels.split('kind="', 1)[1].split('"', 1)[0]
            tn = labels.split('tenant="', 1)[1].split('"', 1)[0]
            upstream[(tn, kind)] += int(float(value))
        if line.startswith("scimgate_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            st = labels.split('status="', 1)[1].split('"', 1)[0]
            tn = labels.split('tenant="', 1)[1].split('"', 1)[0]
            classes[st[0] + "xx"] += int(float(value))
            tenants[(tn, st)] += int(float(value))
    total = sum(classes.values())
    p(f"scimgate_requests_total: {total} " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items())))
    p("  by tenant and status: " + ", ".join(f"{t}/{s} {v}" for (t, s), v in sorted(tenants.items())))
    p("scimgate_upstream_errors_total: " + ", ".join(f"{t}/{k} {v}" for (t, k), v in sorted(upstream.items())))
    good = sum(stats.good.values())
    nfault = sum(stats.faults.values())
    p(f"driver: {good} good requests, {nfault} faulty clients "
      f"({nfault / max(1, good + nfault) * 100:.1f} % of all), {good / (args.minutes * 60):.0f} good req/s")
    lat = sorted(stats.latency) or [0.0]
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    p(f"good request latency (client side): p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, "
      f"max {lat[-1] * 1000:.0f} ms, {sum(1 for x in lat if x >= 1.0)} took 1 s or more")
    p("faults (kind: outcome count, slowest):")
    kinds = sorted({k for k, _ in stats.faults})
    for k in kinds:
        outs = ", ".join(f"{o} {v}" for (kk, o), v in sorted(stats.faults.items(), key=str) if kk == k)
        p(f"  {k:22} {outs}   slowest {stats.slowest[k]:.1f} s")
    if stats.unexpected:
        p(f"UNEXPECTED answers: {sum(stats.unexpected.values())}")
        for what, n in stats.unexpected.most_common(20):
            p(f"  {n:6d}  {what}   e.g. {stats.examples[what]}")
    else:
        p("unexpected answers: 0")
    return "\n".join(out)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--admin", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--max-faults", type=int, default=200)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    host, port = args.gateway.rsplit(":", 1)
    args.gw = (host, int(port))
    random.seed(11)
    stats, stop, rows = Stats(), asyncio.Event(), []
    idle = proc_sample(args.pid)
    t0 = time.monotonic()
    sampling = asyncio.ensure_future(sampler(args, stats, stop, rows, t0))
    workers = [asyncio.ensure_future(good_worker(i, args, stats, stop)) for i in range(args.workers)]
    faults = asyncio.ensure_future(fault_dispatcher(args, stats, stop))
    await asyncio.sleep(args.minutes * 60)
    stop.set()
    await sampling
    await asyncio.wait(workers + [faults], timeout=40)
    print(f"[soak] load stopped; {QUIET_AFTER:.0f} s of quiet", flush=True)
    await asyncio.sleep(QUIET_AFTER)
    rss, fds = proc_sample(args.pid)
    rows.append((round(time.monotonic() - t0), "after", rss, fds, stats.good_done, stats.faults_started))
    with open(os.path.join(args.out, "samples.csv"), "w") as f:
        f.write("t_s,phase,rss_kib,fds,good_requests,faults\n")
        f.write(f"0,idle,{idle[0]},{idle[1]},0,0\n")
        for r in rows:
            f.write(",".join(map(str, r)) + "\n")
    text = summarize(args, stats, rows, idle)
    with open(os.path.join(args.out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

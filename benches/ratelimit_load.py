#!/usr/bin/env python3
"""Flood one tenant, pace another, through a running scimgate; report what got through.

  benches/ratelimit_load.py GATEWAY_URL_A TOKEN_A GATEWAY_URL_B TOKEN_B [seconds] [rate_a] [rate_b]

Tenant A is sent `rate_a` req/s (default 220) from 4 threads, tenant B `rate_b` req/s (default
20) from 1 thread, for `seconds` (default 10). Every refusal must be a 429 with Retry-After.
Standard library only, keep-alive connections, loopback.
"""
import http.client, json, sys, threading, time, urllib.parse
from collections import Counter

def worker(url, token, rate, seconds, out, lock, start):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    interval = 1.0 / rate
    n = 0
    while True:
        due = start + n * interval
        now = time.monotonic()
        if due - start >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        t = time.monotonic() - start
        try:
            conn.request("GET", u.path + "/Users?count=1", headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            r.read()
            status, retry = r.status, r.getheader("Retry-After")
            if r.getheader("Connection", "").lower() == "close":
                conn.close(); conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        except Exception as e:  # noqa: BLE001
            status, retry = f"error {e.__class__.__name__}", None
            conn.close(); conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        with lock:
            out.append((t, status, retry))
        n += 1

def main():
    a_url, a_tok, b_url, b_tok = sys.argv[1:5]
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 10
    rate_a = float(sys.argv[6]) if len(sys.argv) > 6 else 220
    rate_b = float(sys.argv[7]) if len(sys.argv) > 7 else 20
    a, b, lock = [], [], threading.Lock()
    start = time.monotonic() + 0.2
    threads = [threading.Thread(target=worker, args=(a_url, a_tok, rate_a / 4, seconds, a, lock, start)) for _ in range(4)]
    threads.append(threading.Thread(target=worker, args=(b_url, b_tok, rate_b, seconds, b, lock, start)))
    for t in threads: t.start()
    for t in threads: t.join()
    ca, cb = Counter(s for _, s, _ in a), Counter(s for _, s, _ in b)
    bad_429 = sum(1 for _, s, r in a if s == 429 and not r)
    per_sec = Counter(int(t) for t, s, _ in a if s == 200)
    steady = [per_sec.get(i, 0) for i in range(1, int(seconds))]
    report = {
        "seconds": seconds,
        "a_sent": len(a), "a_sent_per_s": round(len(a) / seconds, 1), "a_statuses": dict(ca),
        "a_ok_per_s_after_first_second": round(sum(steady) / max(len(steady), 1), 2),
        "a_ok_first_second": per_sec.get(0, 0),
        "a_429_without_retry_after": bad_429,
        "b_sent": len(b), "b_statuses": dict(cb), "b_ok_ratio": round(cb.get(200, 0) / max(len(b), 1), 4),
    }
    print(json.dumps(report, indent=2))

if __name__ == "__main__":
    main()

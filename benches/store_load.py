#!/usr/bin/env python3
"""Paced load on one tenant through one or more scimgate replicas; report what got through and
how long it took.

  benches/store_load.py URLS TOKEN SECONDS RATE [THREADS]

URLS is a comma-separated list of tenant base URLs (one per replica); request i goes to replica
i mod n. RATE requests per second in total from THREADS threads (default 8), keep-alive
connections, standard library only. Prints one JSON object: counts by status, 429s without
Retry-After, the most 200s within one second (sliding), and latency percentiles (ms) of the 200s.
"""
import http.client, json, sys, threading, time, urllib.parse
from collections import Counter


def worker(urls, token, rate, seconds, out, lock, start, offset, first):
    conns = {}
    def conn(u):
        c = conns.get(u.netloc)
        if c is None:
            c = conns[u.netloc] = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        return c
    interval = 1.0 / rate
    n = 0
    while True:
        due = start + offset + n * interval
        if due - start >= seconds:
            break
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        u = urls[(first + n) % len(urls)]
        c = conn(u)
        t0 = time.monotonic()
        try:
            c.request("GET", u.path + "/Users?count=1", headers={"Authorization": f"Bearer {token}"})
            r = c.getresponse()
            r.read()
            status, retry = r.status, r.getheader("Retry-After")
            if r.getheader("Connection", "").lower() == "close":
                c.close(); conns.pop(u.netloc, None)
        except Exception as e:  # noqa: BLE001
            status, retry = f"error {e.__class__.__name__}", None
            c.close(); conns.pop(u.netloc, None)
        t1 = time.monotonic()
        with lock:
            out.append((t0 - start, status, retry, (t1 - t0) * 1000.0))
        n += 1


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p / 100))], 3)


def main():
    urls = [urllib.parse.urlsplit(u) for u in sys.argv[1].split(",")]
    token = sys.argv[2]
    seconds = float(sys.argv[3])
    rate = float(sys.argv[4])
    threads_n = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    out, lock = [], threading.Lock()
    start = time.monotonic() + 0.2
    per = rate / threads_n
    threads = [threading.Thread(target=worker, args=(urls, token, per, seconds, out, lock, start, i / rate, i))
               for i in range(threads_n)]
    for t in threads: t.start()
    for t in threads: t.join()
    statuses = Counter(s for _, s, _, _ in out)
    ok = sorted(t for t, s, _, _ in out if s == 200)
    best, j = 0, 0
    for i in range(len(ok)):
        while ok[i] - ok[j] >= 1.0:
            j += 1
        best = max(best, i - j + 1)
    lat = [ms for _, s, _, ms in out if s == 200]
    print(json.dumps({
        "seconds": seconds, "sent": len(out), "sent_per_s": round(len(out) / seconds, 1),
        "statuses": {str(k): v for k, v in statuses.items()}, "ok": len(ok),
        "max_ok_in_1s": best,
        "429_without_retry_after": sum(1 for _, s, r, _ in out if s == 429 and not r),
        "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99),
    }))


if __name__ == "__main__":
    main()

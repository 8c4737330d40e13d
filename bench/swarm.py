"""Many simultaneous streams from one process, as greenlets: the client side of playground_bench's N-stream rows.

A thousand client threads would cost the 2-core machine more than the servers they measure; greenlets keep the
client light. Reads one JSON spec as its argument, prints "ready", starts every stream at once on "go" (stdin),
then prints one JSON line: [[ok, ttft_ms, total_ms], ...].
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import requests  # noqa: E402


def main():
    spec = json.loads(sys.argv[1])
    token_marker, end_marker = spec["token_marker"].encode(), spec["end_marker"].encode()
    go = gevent.event.Event()
    started = [0.0]

    def one():
        session = requests.Session()
        session.headers.update(spec.get("headers", {}))
        session.cookies.update(spec.get("cookies", {}))
        go.wait()
        ttft, tail = None, b""
        try:
            with session.post(spec["url"], stream=True, timeout=300, **spec["body"]) as r:
                if r.status_code != 200:
                    return [False, None, 0]
                for chunk in r.iter_content(chunk_size=None):
                    if ttft is None and token_marker in chunk:
                        ttft = (time.perf_counter() - started[0]) * 1000
                    tail = (tail + chunk)[-400:]
        except requests.RequestException:
            return [False, ttft, (time.perf_counter() - started[0]) * 1000]
        return [end_marker in tail and ttft is not None, ttft, (time.perf_counter() - started[0]) * 1000]

    greenlets = [gevent.spawn(one) for _ in range(spec["streams"])]
    gevent.sleep(0.2)
    print("ready", flush=True)
    sys.stdin.readline()
    started[0] = time.perf_counter()
    go.set()
    gevent.joinall(greenlets)
    print(json.dumps([g.value for g in greenlets]), flush=True)


if __name__ == "__main__":
    main()

"""Client-side CPU of one upstream call: the console's transport as it sends now, as it sent before (through
`requests`' Session.request), and urllib3 alone, all to the same loopback upstream (bench/pace_upstream.py,
answering at once).

Now the transport hands a request it prepared itself to the session's adapter (providers/huggingface/
transport.py, _sent); before, Session.request prepared it, merging cookies, hooks and settings on every call;
urllib3's pool is what any call through `requests` costs at least. The three run in interleaved rounds in one
process, so a busy machine slows each alike; CPU time is this process's only (the upstream runs in its own).
Numbers are printed, never asserted.

Run: .venv/bin/python bench/transport_bench.py [--calls 3000] [--rounds 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BODY = {"inputs": "Why is the sky blue", "parameters": {"max_new_tokens": 8}}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000, help="calls per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    upstream = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "pace_upstream.py"), "0", "0"], stdout=subprocess.PIPE, text=True
    )
    answer_url = upstream.stdout.readline().split()[0]
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "DATA_DIR": tempfile.mkdtemp(prefix="transport-bench-"),
            "OUTBOUND_ALLOW_HTTP": "true",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    import urllib3

    from providers.huggingface import transport

    lean = transport._sent

    def through_session(method, url, json_body, headers, timeout):  # the transport's send before it went lean
        return transport._session().request(
            method, url, json=json_body, headers=headers, timeout=timeout, stream=True, allow_redirects=False
        )

    def console():
        return transport.send("POST", answer_url, token="hf_bench", json_body=BODY).content

    url = urllib3.util.parse_url(answer_url)
    pool = urllib3.HTTPConnectionPool(url.host, url.port, maxsize=4)
    body = json.dumps(BODY).encode()
    headers = {"Accept": "application/json", "Authorization": "Bearer hf_bench", "Content-Type": "application/json"}

    def urllib3_alone():
        return pool.urlopen("POST", url.request_uri, body=body, headers=headers).data

    paths = {  # name: (the transport's _sent, the call)
        "transport.send, now": (lean, console),
        "transport.send, before": (through_session, console),
        "urllib3 pool alone": (lean, urllib3_alone),
    }
    cpu = {name: [] for name in paths}
    try:
        for sent, call in paths.values():  # connections opened, code warm
            transport._sent = sent
            for _ in range(200):
                call()
        for _ in range(args.rounds):
            for name, (sent, call) in paths.items():
                transport._sent = sent
                started = time.process_time()
                for _ in range(args.calls):
                    call()
                cpu[name].append((time.process_time() - started) / args.calls * 1e6)
    finally:
        transport._sent = lean
        upstream.terminate()
    floor = statistics.median(cpu["urllib3 pool alone"])
    print(f"client CPU per call, {args.rounds} rounds of {args.calls} calls (median, low–high):")
    for name, values in cpu.items():
        middle = statistics.median(values)
        print(f"  {name:24s} {middle:6.0f} µs ({min(values):.0f}–{max(values):.0f}), {middle / floor:.2f}× urllib3")


if __name__ == "__main__":
    main()

"""The least a proxy on this stack can cost: a bare WSGI app, no Django, forwarding one request with requests.

playground_bench.py serves it with the console's own gunicorn configuration and sends it the same request as
the playground, so the console's overhead can be read against what the server and the HTTP client alone add.
"""

import os

import requests

UPSTREAM = os.environ["FLOOR_UPSTREAM"]  # set by playground_bench.py
_session = requests.Session()


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    upstream = _session.post(UPSTREAM, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    start_response(
        f"{upstream.status_code} {upstream.reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(upstream.content)))],
    )
    return [upstream.content]

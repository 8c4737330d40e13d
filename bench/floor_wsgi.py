"""The least a proxy on this stack can cost: a bare WSGI app, no Django, forwarding one request with requests.

playground_bench.py serves it with the console's own gunicorn configuration and sends it the same requests as
the playground: `/answer` forwards a whole answer, `/stream` relays a streamed one chunk by chunk as it comes,
`/embeddings` forwards an embeddings answer as it came.
So the console's overhead can be read against what the server and the HTTP client alone add.
"""

import os

import requests

UPSTREAMS = {  # set by the bench
    "/answer": os.environ["FLOOR_ANSWER"],
    "/stream": os.environ["FLOOR_STREAM"],
    "/embeddings": os.environ["FLOOR_ANSWER"] + "/v1/embeddings",
}
_session = requests.Session()
_session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=1024))


def application(environ, start_response):
    upstream_url = UPSTREAMS.get(environ.get("PATH_INFO", ""))
    if upstream_url is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"floor"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    stream = environ["PATH_INFO"] == "/stream"
    upstream = _session.post(
        upstream_url, data=body, headers={"Content-Type": "application/json"}, timeout=60, stream=stream
    )
    if not stream:
        start_response(
            f"{upstream.status_code} {upstream.reason}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(upstream.content)))],
        )
        return [upstream.content]
    start_response(f"{upstream.status_code} {upstream.reason}", [("Content-Type", "text/event-stream")])
    return _relay(upstream)


def _relay(upstream):
    try:
        yield from upstream.iter_content(chunk_size=None)
    finally:
        upstream.close()

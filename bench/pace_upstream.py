"""A lean loopback upstream for the benchmark: text-generation-inference's answers and streams, and OpenAI-shaped
embeddings.

The test suite's emulator (tests/hf_emulator.py) speaks every protocol and fault, and costs ~50 µs of Python per
token; at 1,000 streams of 50 tokens a second that alone would fill a core of this 2-core machine, and every
column of the table would measure the upstream. This one writes pre-encoded events from gevent greenlets, in
the same wire format as the emulator (TGI 3.x SSE with `data: `, chunked; OpenAI-style chat chunks with
`[DONE]` on /v1/chat/completions), so the console's client and LiteLLM read it as they read the emulator.

Run: python bench/pace_upstream.py LATENCY_S PACE_S  -> prints "http://127.0.0.1:PORT/answer http://…/stream"
A request to /answer… answers after LATENCY_S (…/v1/embeddings with OpenAI's embeddings answer); one to /stream…
streams its tokens PACE_S apart.
"""

from gevent import monkey

monkey.patch_all()

import base64  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from gevent.server import StreamServer  # noqa: E402

WORDS = "The sky is blue because molecules in the air scatter blue light from the sun more than red light".split()


def pieces(count):
    return [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(count)]


def chunk(data):
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def event(payload):
    return chunk(b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n")


def tgi_events(count):
    words = pieces(count)
    events = []
    for index, piece in enumerate(words, start=1):
        last = index == count
        events.append(
            event(
                {
                    "index": index,
                    "token": {"id": 100 + index, "text": piece, "logprob": -0.5, "special": False},
                    "generated_text": "".join(words) if last else None,
                    "details": {"finish_reason": "length", "generated_tokens": count, "seed": None, "input_length": 5}
                    if last
                    else None,
                }
            )
        )
    return events


def chat_events(count):
    events = []
    for index, piece in enumerate(pieces(count), start=1):
        choice = {"index": 0, "delta": {"role": "assistant", "content": piece}, "logprobs": None}
        choice["finish_reason"] = "length" if index == count else None
        events.append(
            event(
                {
                    "object": "chat.completion.chunk",
                    "id": "",
                    "created": 1,
                    "model": "bench",
                    "system_fingerprint": "3.2.1-native",
                    "choices": [choice],
                    "usage": None,
                }
            )
        )
    return events + [chunk(b"data: [DONE]\n\n")]


EMBED_DIMENSIONS = 384  # bge-small's, MiniLM's


def embeddings(body):
    """OpenAI's embeddings answer: one vector per input, EMBED_DIMENSIONS float32-like numbers as a server prints
    them (eight or nine digits), the same vector for every input (the bytes matter here, not the values)."""
    inputs = body.get("input")
    count = 1 if isinstance(inputs, str) else len(inputs or [])
    vector = [round(((i * 7919) % 2000 - 1000) / 31622.7766, 9) for i in range(EMBED_DIMENSIONS)]
    if body.get("encoding_format") == "base64":  # little-endian float32, as OpenAI's API answers it
        vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(count)]
    return {
        "object": "list",
        "data": data,
        "model": "bench",
        "usage": {"prompt_tokens": 4 * count, "total_tokens": 4 * count},
    }


def whole(body, chat):
    if chat:
        count = min(body.get("max_tokens") or 20, 200)
        text = "".join(pieces(count))
        message = {"role": "assistant", "content": text}
        return {
            "object": "chat.completion",
            "id": "",
            "created": 1,
            "model": "bench",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": count, "total_tokens": 5 + count},
        }
    count = min((body.get("parameters") or {}).get("max_new_tokens") or 20, 200)
    details = {"finish_reason": "length", "generated_tokens": count, "seed": None, "prefill": [], "tokens": []}
    return [{"generated_text": "".join(pieces(count)), "details": details}]


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    b"Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n"
)


def serve(latency, pace):
    cache = {}

    def handle(sock, _address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        try:
            while True:
                request = reader.readline()
                if not request:
                    return
                path = request.split(b" ")[1].decode()
                length = 0
                while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = json.loads(reader.read(length)) if length else {}
                chat = path.endswith("/v1/chat/completions")
                if path.startswith("/stream") and body.get("stream"):
                    count = body.get("max_tokens") if chat else (body.get("parameters") or {}).get("max_new_tokens")
                    key = (chat, min(count or 20, 200))
                    if key not in cache:
                        cache[key] = (chat_events if chat else tgi_events)(key[1])
                    sock.sendall(STREAM_HEAD)
                    for index, data in enumerate(cache[key]):
                        if index and pace:
                            time.sleep(pace)
                        sock.sendall(data)
                    sock.sendall(b"0\r\n\r\n")
                    continue
                if path.startswith("/answer"):
                    time.sleep(latency)
                if path.endswith("/v1/embeddings"):
                    inputs = body.get("input")
                    count = 1 if isinstance(inputs, str) else len(inputs or [])
                    key = ("embeddings", count, body.get("encoding_format"))
                    if key not in cache:
                        cache[key] = json.dumps(embeddings(body)).encode()
                    data = cache[key]
                else:
                    data = json.dumps(whole(body, chat)).encode()
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(data)).encode()
                    + b"\r\n\r\n"
                    + data
                )
        except OSError:
            return
        finally:
            sock.close()

    server = StreamServer(("127.0.0.1", 0), handle, backlog=4096)
    server.start()
    base = f"http://127.0.0.1:{server.server_port}"
    print(f"{base}/answer {base}/stream", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(float(sys.argv[1]), float(sys.argv[2]))

"""A chunked body read straight from its socket (huggingface/body.py) gives the body's bytes however the server
cut its chunks into writes: one whole chunk a read (the relay's common case, taken without the general parser),
several at once, a size line or its data split across reads, chunk extensions, and a trailer."""

import socket
import threading
import time

import pytest
import requests

from providers.huggingface import body as straight_body

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
EVENTS = [b'data: {"n":%d,"text":"token %d"}\n\n' % (i, i) for i in range(6)]


def chunk(data, size_line=None):
    return (size_line or b"%x" % len(data)) + b"\r\n" + data + b"\r\n"


# Each pattern: the writes after the head, a few milliseconds apart (each lands in a read of its own).
PATTERNS = {
    "one whole chunk a write": [chunk(e) for e in EVENTS] + [b"0\r\n\r\n"],
    "several chunks a write": [b"".join(chunk(e) for e in EVENTS[:3]), b"".join(chunk(e) for e in EVENTS[3:])]
    + [b"0\r\n\r\n"],
    "a size line cut in two": [c for e in EVENTS for c in (chunk(e)[:1], chunk(e)[1:])] + [b"0\r\n\r\n"],
    "a chunk's data cut in two": [c for e in EVENTS for c in (chunk(e)[:9], chunk(e)[9:])] + [b"0\r\n\r\n"],
    "the line end cut from its data": [c for e in EVENTS for c in (chunk(e)[:-2], b"\r\n")] + [b"0\r\n\r\n"],
    "chunk extensions": [chunk(e, b"%x;name=value" % len(e)) for e in EVENTS] + [b"0\r\n\r\n"],
    "upper case and leading zeros": [chunk(e, b"00%X" % len(e)) for e in EVENTS] + [b"0\r\n\r\n"],
    "a trailer": [chunk(e) for e in EVENTS] + [b"0\r\nX-Checksum: 1\r\n\r\n"],
}


@pytest.fixture
def server():
    """A server on raw sockets that writes the pattern named by the request's path."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                name = request.split(b" ")[1].decode().strip("/").replace("-", " ")
                conn.sendall(HEAD)
                for piece in PATTERNS.get(name, [b"5x\r\nhello\r\n"]):
                    time.sleep(0.005)
                    conn.sendall(piece)
                time.sleep(0.05)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def read_all(response):
    body = straight_body.straight(response)
    assert body is not None
    parts = []
    try:
        while (data := body.read(2.0)) != b"":
            assert data is not None, "nothing came within the wait"
            parts.append(data)
    finally:
        body.close()
    return b"".join(parts)


@pytest.mark.parametrize("name", list(PATTERNS))
def test_a_chunked_body_reads_the_same_however_its_chunks_arrive(server, name):
    with requests.get(f"{server}/{name.replace(' ', '-')}", stream=True, timeout=5) as response:
        assert read_all(response) == b"".join(EVENTS)


def test_a_chunk_size_that_is_not_a_number_is_a_framing_error(server):
    with requests.get(f"{server}/broken", stream=True, timeout=5) as response:
        with pytest.raises(straight_body.FramingError):
            read_all(response)

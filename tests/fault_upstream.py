"""A deliberately misbehaving text-generation server on 127.0.0.1, written on raw sockets so that it can do what
http.server will not: cut a stream cleanly without its final event, send SSE delimited by the connection's close
(no chunked encoding, no Content-Length), only keep-alive comments, one byte at a time, nothing at all, or far too
much. The first path segment names the behaviour (`/cut_tgi/`, `/silent/v1/chat/completions`, ...); each
connection's open and close times are recorded, so a test can tell when the console let go of it.
"""

import json
import select
import socket
import threading
import time

WORDS = "The sky is blue because molecules in the air scatter blue light".split()
HTML_500 = (
    "<html><head><title>500 Internal Server Error</title></head><body><center><h1>500 Internal Server Error"
    "</h1></center><hr><center>nginx/1.25.3</center></body></html>"
)


class FaultUpstream:
    def __init__(self, pace=0.05):
        self.pace = pace
        self.lock = threading.Lock()
        self.connections = []  # {"mode", "opened", "closed"}: monotonic times
        self.sock = None

    def start(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self.sock.close()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def reset(self):
        with self.lock:
            self.connections = []

    def closed(self, mode):
        """Close times of the finished generation connections of `mode` (not the engine probes' GETs)."""
        with self.lock:
            return [c["closed"] for c in self._generations(mode) if c["closed"] is not None]

    def opened(self, mode):
        with self.lock:
            return [c["opened"] for c in self._generations(mode)]

    def _generations(self, mode):
        return [c for c in self.connections if c["mode"] == mode and c["method"] != "GET"]

    def _accept(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        record = {"mode": "", "method": "", "opened": time.monotonic(), "closed": None}
        try:
            method, path = _read_request(conn)
            record["mode"], record["method"] = path.strip("/").split("/")[0], method
            with self.lock:
                self.connections.append(record)
            _Behaviour(conn, self.pace, method, path).run(record["mode"])
        except (OSError, ValueError):
            pass
        finally:
            record["closed"] = record["closed"] or time.monotonic()
            conn.close()


def _read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("no request")
        data += chunk
    head, _sep, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    length = 0
    for header in lines[1:]:
        name, _colon, value = header.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return method, path


class _Behaviour:
    def __init__(self, conn, pace, method, path):
        self.conn = conn
        self.pace = pace
        self.method = method
        self.chat = path.rstrip("/").endswith("chat/completions")

    def run(self, mode):
        if self.method == "GET":  # /info and /health: not a TGI server, so Test connection goes straight on
            return self.send_whole(404, b"", "text/plain")
        getattr(self, "mode_" + mode)()

    # --- writing -----------------------------------------------------------------------------------------

    def head(self, status=200, content_type="text/event-stream", framing="chunked", length=None):
        lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", "Connection: close"]
        if framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        elif length is not None:
            lines.append(f"Content-Length: {length}")
        self.conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.framing = framing

    def write(self, data):
        if self.framing == "chunked":
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.conn.sendall(data)

    def end(self):
        if self.framing == "chunked":
            self.conn.sendall(b"0\r\n\r\n")

    def send_whole(self, status, body, content_type="application/json"):
        self.head(status, content_type, framing="length", length=len(body))
        self.conn.sendall(body)

    def event(self, payload):
        self.write(b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) + b"\n\n")

    def token_event(self, index, last=False, text=None):
        text = text if text is not None else (" " if index > 1 else "") + WORDS[(index - 1) % len(WORDS)]
        if self.chat:
            return {
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "length" if last else None}],
            }
        return {
            "index": index,
            "token": {"id": index, "text": text, "logprob": -0.1, "special": False},
            "generated_text": "(whole text)" if last else None,
            "details": {"finish_reason": "length", "generated_tokens": index, "seed": None} if last else None,
        }

    def tokens(self, count, final):
        for index in range(1, count + 1):
            time.sleep(self.pace)
            self.event(self.token_event(index, last=final and index == count))
        if final and self.chat:
            self.event(b"[DONE]")

    def until_peer_closes(self, every=None, payload=b"", seconds=60):
        """Keep the connection (writing `payload` each `every` seconds) until the client closes it."""
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            readable, _w, _x = select.select([self.conn], [], [], every or 0.05)
            if readable and not self.conn.recv(1024):
                return
            if every and payload:
                self.write(payload)

    # --- behaviours ----------------------------------------------------------------------------------------

    def mode_cut_tgi(self):
        """Three tokens, then a clean end of the chunked body: no final event, no error."""
        self.head()
        self.tokens(3, final=False)
        self.end()

    mode_cut_chat = mode_cut_tgi  # the same on a chat path: no finish_reason, no [DONE]

    def mode_cut_close(self):
        """Three tokens, then the connection closes (a close-delimited body): nothing says it is complete."""
        self.head(framing="close")
        self.tokens(3, final=False)

    def mode_close_delimited(self):
        """A complete stream with neither chunked encoding nor Content-Length, paced: it ends with the close."""
        self.head(framing="close")
        self.tokens(5, final=True)

    def mode_comments(self):
        """Only keep-alive comments, forever."""
        self.head()
        self.until_peer_closes(every=0.2, payload=b": keep-alive\n\n")

    def mode_burst(self):
        """Five tokens and the final event in one write (a server that batches, or a reader fallen behind)."""
        self.head()
        events = [self.token_event(index, last=index == 6) for index in range(1, 7)]
        self.write(b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events))
        self.end()

    def mode_queued(self):
        """A token, then eight more a moment later, each in a chunk of its own and written at once (a server that
        sends faster than its reader reads), then the final event and [DONE]."""
        self.head()
        self.event(self.token_event(1))
        time.sleep(self.pace)
        for index in range(2, 10):
            self.event(self.token_event(index))
        self.event(self.token_event(10, last=True))
        self.event(b"[DONE]")
        self.end()

    def mode_silent(self):
        """Headers, one token, then nothing (a long pause)."""
        self.head()
        self.tokens(1, final=False)
        self.until_peer_closes()

    def mode_silent_start(self):
        """Headers and then nothing (no first token)."""
        self.head()
        self.until_peer_closes()

    def mode_drip(self):
        """A whole JSON answer with its length announced, one byte every 0.2 s."""
        body = json.dumps([{"generated_text": " ".join(WORDS * 20)}]).encode()
        self.head(content_type="application/json", framing="length", length=len(body))
        for byte in body:
            self.conn.sendall(bytes([byte]))
            time.sleep(0.2)

    def mode_drip_sse(self):
        """One event sent one byte every 0.2 s."""
        self.head(framing="close")
        for byte in b"data: " + json.dumps(self.token_event(1, text="x" * 500)).encode():
            self.conn.sendall(bytes([byte]))
            time.sleep(0.2)

    def mode_drip_chunked(self):
        """A complete chat stream written one byte at a time, chunk sizes (with an extension) and a trailer
        included: each read may end inside a size line, an event or a line end."""
        self.head()
        events = [self.token_event(index, last=index == 4) for index in range(1, 5)]
        wire = b"".join(
            f"{len(data):x};note=1\r\n".encode() + data + b"\r\n"
            for data in [b"data: " + json.dumps(event).encode() + b"\n\n" for event in events] + [b"data: [DONE]\n\n"]
        )
        for byte in wire + b"0\r\nX-Trailer: 1\r\n\r\n":
            self.conn.sendall(bytes([byte]))
            time.sleep(0.002)
        self.until_peer_closes(seconds=5)

    def mode_bad_chunk(self):
        """Two tokens, then a chunk size that is not a number."""
        self.head()
        self.tokens(2, final=False)
        self.conn.sendall(b"zz\r\ndata: {}\r\n")
        self.until_peer_closes(seconds=5)

    def mode_long_size_line(self):
        """Two tokens, then a chunk-size line that never ends."""
        self.head()
        self.tokens(2, final=False)
        self.conn.sendall(b"1" * 8192)
        self.until_peer_closes(seconds=5)

    def mode_huge(self):
        """8 KiB tokens as fast as the client reads, up to 64 MiB, then the final event."""
        self.head()
        text = "blah " * 1638
        for index in range(1, 8192):
            self.event(self.token_event(index, text=text))
        self.event(self.token_event(8192, last=True, text=text))
        self.end()

    def mode_long(self):
        """A complete answer of 250 tokens of 1 KiB (about 300 KB of events) as fast as the client reads."""
        self.head()
        text = "words " * 170
        for index in range(1, 251):
            self.event(self.token_event(index, last=index == 250, text=text))
        self.end()

    def mode_big_json(self):
        """A whole JSON answer of 8 MiB, sent at once."""
        body = json.dumps([{"generated_text": "blah " * (8 << 18)}]).encode()
        self.send_whole(200, body)

    def mode_huge_count(self):
        """A complete stream whose final event reports 10**30 generated tokens (TGI's details, or chat usage)."""
        self.head()
        self.tokens(3, final=False)
        huge = 10**30
        if self.chat:
            self.event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self.event({"choices": [], "usage": {"prompt_tokens": huge, "completion_tokens": huge}})
            self.event(b"[DONE]")
        else:
            last = self.token_event(4, last=True)
            last["details"]["generated_tokens"] = huge
            self.event(last)
        self.end()

    def mode_html500(self):
        self.send_whole(500, HTML_500.encode(), "text/html")

    def mode_gone(self):
        self.send_whole(410, b"", "text/plain")

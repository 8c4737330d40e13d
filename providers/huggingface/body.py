"""An open response's body read straight from its socket, its HTTP/1.1 framing undone here: the hot path of a
relayed stream.

http.client reads a chunked body one chunk at a time through its buffered reader (a line for the size, the data,
two bytes for the line end), and a socket read that timed out there leaves it unusable. Here one `recv` takes all
that arrived (a server fallen behind sends many events at once), the chunk framing is undone with `find`, and a
read may wait a bounded time and come back with nothing: the caller wakes each second whatever the upstream
does, and the wall-clock deadline holds however the bytes arrive (a drip, a size line cut in two). At a clean end
the connection goes back to urllib3's pool, as http.client would leave it.
"""

import ssl
import time

from providers.huggingface.transport import READ_SIZE, socket_of

MAX_LINE = 4096  # a chunk-size or trailer line longer than this is not HTTP


class FramingError(Exception):
    """The body broke HTTP/1.1's framing (or the connection ended inside it)."""


def straight(response):
    """A Body reading `response` straight from its socket, or None when only urllib3 can (an encoded body, a
    socket that is not at hand)."""
    raw = response.raw
    http_response = getattr(raw, "_fp", None)
    buffered = getattr(http_response, "fp", None)
    sock = socket_of(response)
    if sock is None or buffered is None or response.headers.get("Content-Encoding", "identity") != "identity":
        return None
    if http_response.chunked:
        length = None
    elif http_response.length is not None:
        length = http_response.length
    else:
        length = -1  # delimited by the connection's close
    return Body(response, sock, buffered, length)


class Body:
    def __init__(self, response, sock, buffered, length):
        self.response, self.sock = response, sock
        self.length = length  # None: chunked; -1: until the connection closes; else the bytes left
        self.chunk_left = 0  # bytes of the current chunk still to come
        self.state = "size"  # chunked: "size", "data", "crlf", "trailer"
        self.ended = False
        self.released = False
        self.failure = None  # a framing error found behind data: raised by the next read
        # What http.client's buffered reader already took from the socket with the headers, taken without waiting.
        sock.settimeout(0.0)
        try:
            early = buffered.peek(READ_SIZE)
            self.buffer = buffered.read(len(early)) if early else b""
        except OSError:
            self.buffer = b""

    def read(self, wait):
        """The body's next bytes; None when nothing came within `wait` seconds; b"" at its end. Raises OSError
        for a failed connection and FramingError for a broken (or cut) body."""
        until = None
        while True:
            if self.failure is not None:
                raise self.failure
            data = self._taken() if self.buffer or self.length == 0 else b""  # nothing to unframe: straight to recv
            if self.ended:
                self._release()
                return data
            if data:
                return data
            # Part of a frame, or nothing yet: wait for more within what `wait` leaves.
            left = wait if until is None else until - time.monotonic()
            if until is None:
                until = time.monotonic() + wait
            self.sock.settimeout(max(left, 0.0))
            try:
                more = self.sock.recv(READ_SIZE)
            except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):  # nothing came (TLS says "want read")
                return None
            if not more:
                if self.length == -1:
                    self.ended = True
                    return b""
                raise FramingError("the connection closed inside the body")
            self.buffer += more

    def _taken(self):
        """The data bytes the buffer holds, framing removed (as much of a chunk as came)."""
        if self.length is not None:
            data, self.buffer = self.buffer, b""
            if self.length >= 0:
                data = data[: self.length]
                self.length -= len(data)
                self.ended = self.length == 0
            return data
        buffer = self.buffer
        if self.state == "size":
            # Nearly every read: whole chunks of one event each. One is taken without the general loop below.
            line_end = buffer.find(b"\n")
            if 0 < line_end <= MAX_LINE and buffer.find(b";", 0, line_end) < 0:
                try:
                    size = int(buffer[:line_end], 16)  # int() allows the line's CR (and spaces) around the digits
                except ValueError:
                    size = 0
                end = line_end + 1 + size
                if size > 0 and len(buffer) == end + 2:  # the chunk, its CRLF, and nothing behind it
                    self.buffer = b""
                    return buffer[line_end + 1 : end]
        parts, at = [], 0
        while True:
            if self.state == "data":
                taken = buffer[at : at + self.chunk_left]
                if not taken:
                    break
                parts.append(taken)
                at += len(taken)
                self.chunk_left -= len(taken)
                if self.chunk_left:
                    break
                self.state = "crlf"
            if self.state == "crlf":
                if len(buffer) - at < 2:
                    break
                at += 2  # what http.client does with it too: two bytes, not checked
                self.state = "size"
            line_end = buffer.find(b"\n", at)
            if line_end < 0:
                if len(buffer) - at > MAX_LINE:
                    self.failure = FramingError("a chunk line is too long")
                break
            line = buffer[at:line_end]
            at = line_end + 1
            if self.state == "trailer":
                if line.strip():
                    continue
                self.ended = True
                break
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                size = -1
            if size < 0:
                self.failure = FramingError("a chunk size is not a number")
                break
            if size == 0:
                self.state = "trailer"
            else:
                self.state, self.chunk_left = "data", size
        self.buffer = buffer[at:]
        if self.failure is not None and not parts:
            raise self.failure
        return b"".join(parts)  # a failure found behind them is raised by the next read

    def _release(self):
        """A clean end: the connection back to the pool, ready for its next request, as after any whole body."""
        if self.released or self.length == -1 or self.buffer:
            return
        self.released = True
        self.response.raw._fp._close_conn()  # the response's file, not the socket the connection keeps
        self.response.raw.release_conn()

    def close(self):
        """The connection back to the pool when the rest of the body is already here (a chunked body's last
        chunk, written right after [DONE], may not have been read yet); closed otherwise."""
        for _ in range(4):
            if self.ended or self.failure is not None:
                break
            try:
                if not self.read(0.0):
                    break
            except (OSError, FramingError):
                break
        if self.ended:
            self._release()
        if not self.released:
            self.response.close()

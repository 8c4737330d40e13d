"""Server-sent events as Hugging Face servers send them: `data:` with or without a space, `[DONE]` or not.

Incremental: bytes go in as they arrive (whatever the framing), each complete `data:` line comes out at once.
"""

DONE = object()  # the `data: [DONE]` sentinel of OpenAI-style streams


class LineTooLong(Exception):
    pass


class SSEParser:
    def __init__(self, max_line):
        self.buffer = b""
        self.max_line = max_line

    def feed(self, data):
        """The data strings (or DONE) of the lines completed by `data`; comments and other fields are skipped."""
        return [d if d is DONE else d.decode("utf-8", errors="replace") for d in self.feed_bytes(data)]

    def feed_bytes(self, data):
        """As feed(), the data left as bytes: a relay that passes events on as they came need not decode them."""
        buffer = self.buffer + data if self.buffer else data
        # CRLF or CR line ends; most servers send LF only, which needs no rewrite. find(), not `in`, on every
        # token: see Answer.passed in adapters/openai_relay.py.
        if buffer.find(b"\r") >= 0:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self.buffer = lines.pop()
        if len(self.buffer) > self.max_line:
            raise LineTooLong()
        out = []
        for raw in lines:
            if raw.startswith(b"data:"):  # not blank separators, comments (":"), keep-alives, event:/id: lines
                data = raw[5:].lstrip(b" ")
                out.append(DONE if data.strip() == b"[DONE]" else data)
        return out

"""The streaming reader: one answer read in a helper thread and handed over a bounded queue, so its consumer wakes
at least once a second (IDLE) whatever the upstream does; and Generation, the items of one generation as it runs."""

import collections
import socket
import threading
import time

import gevent
from django.conf import settings
from django.utils.translation import gettext as _
from gevent import monkey

from providers.huggingface import body as straight_body
from providers.huggingface.errors import HFError
from providers.huggingface.transport import READ_SIZE, connection_failure, socket_of, timeout_error, watch


class _Idle:
    def __repr__(self):
        return "IDLE"


IDLE = _Idle()  # yielded by generate() while the upstream is silent, at least once a second
IDLE_SECONDS = 1.0
FINISH_GRACE = 3.0  # after a chat finish_reason, how long to wait for the usage chunk and [DONE]
HELD_BYTES = 262144  # received bytes that may wait for a consumer fallen behind, per answer
JOINED_BYTES = 4096  # queued reads taken as one, at most (a stalled browser's write holds no more than that)


class Reader:
    """Reads one answer in a helper thread (a greenlet under gevent) and hands its bytes over a bounded queue.

    The consumer then wakes at least once a second whatever the upstream does (silence, keep-alive comments,
    one byte a second, no chunked framing), so it can enforce the wall-clock deadline and notice a stop; `stop()`
    shuts the socket, which ends the helper's blocked read at once and frees the upstream connection.
    """

    def __init__(self, open_response, deadline, straight=False):
        # What waits for the consumer is bounded in bytes (a chunked answer's reads can be one small event each):
        # a consumer held up by its own reader (a browser that stopped reading) stops this one, and the upstream.
        # A deque and two events rather than queue.Queue: its lock and condition cost a stream at a thousand at
        # once more than its whole relay. Each counter has one writer (put: the reader; taken: the consumer), so
        # neither side takes a lock; an event is set only when the other side waits on it.
        self.items = collections.deque()  # (kind, value, arrival time)
        self.put_bytes = 0
        self.taken_bytes = 0
        self.room = threading.Event()  # set when the consumer took data while the reader waited for room
        self.waiting = False
        self.ready = threading.Event()  # set when an item came while the consumer waited for one
        self.idle = False
        self.early = None  # an item taken from the queue that came after the caller's time was up
        self.deadline = deadline
        self.read_timeout = settings.HF_READ_TIMEOUT
        self.signalled = time.monotonic()  # when the consumer last got something (data or IDLE)
        self.stopped = threading.Event()
        self.sent = threading.Event()  # the request is written (or the reader ended without writing it)
        self.backlog = False  # the stream's reader holds more parsed events of the last read
        self.draining = False  # take() only what was already received (see Generation.received)
        self.sock = None
        self.conn = None  # urllib3's connection the answer came on, while the answer holds it
        self.response = None
        # straight: the helper only opens the request (the wait for headers, an endpoint's waking); the consumer
        # then reads the body itself from the socket (body.py), without a hand-over per read.
        self.straight = straight
        self.body = None  # set by the helper before it hands the response over
        self.reading = False  # the consumer took the response and reads the body itself
        self.late_bytes = 0  # what it read after the deadline (what had come meanwhile), at most HELD_BYTES
        _start_helper(self._run, open_response)
        # Back to the caller once the request is on its way (at most a second: a slow connect goes on alone).
        # Under gevent the reader runs only while the caller waits, so without this the caller's own work (a
        # database write) would run before the request leaves instead of while the upstream works on it.
        self.sent.wait(min(IDLE_SECONDS, max(deadline.left(), 0)))

    def _run(self, open_response):
        watch.reader = self
        try:
            self.response = open_response()
            self.conn = getattr(self.response.raw, "connection", None)
            self.sock = socket_of(self.response) or self.sock
            self.body = straight_body.straight(self.response) if self.straight else None
            self._put(("response", self.response))
            if self.body is not None:  # the consumer reads on, and closes it (or stop() does)
                if self.stopped.is_set():
                    self.body.close()  # a consumer gone before this: nobody else will
                return
            read = _body_reads(self.response)
            while not self.stopped.is_set():
                data = read()
                if not data:
                    break
                self._put(("data", data))
            self._put(("end", None))
        except HFError as exc:
            self._put(("error", exc))
        except Exception as exc:  # a read that fails in any way ends the answer; the consumer says how
            self._put(("error", connection_failure(exc)))
        finally:
            watch.reader = None
            self.sent.set()
            if self.response is not None and self.body is None:
                self.response.close()

    @property
    def held(self):
        """Bytes of data received and not yet taken."""
        return self.put_bytes - self.taken_bytes

    def _put(self, item):
        size = len(item[1]) if item[0] == "data" else 0
        while not self.stopped.is_set():
            now, deadline = time.monotonic(), self.deadline
            if now > deadline.started + deadline.seconds + 5 * IDLE_SECONDS:  # a consumer gone without closing
                self.stopped.set()
                return
            if self.put_bytes == self.taken_bytes or self.held + size <= HELD_BYTES:
                self.put_bytes += size
                self.items.append((*item, now))
                if self.idle:
                    self.ready.set()
                return
            self.room.clear()
            self.waiting = True
            if self.held + size > HELD_BYTES:  # the consumer may have taken some since the check above
                self.room.wait(IDLE_SECONDS)
            self.waiting = False

    def _pop(self):
        item = self.items.popleft()
        if item[0] == "data":
            self.taken_bytes += len(item[1])
            if self.waiting:  # only then: a stream's every token would otherwise pay for a wake-up nobody waits for
                self.waiting = False
                self.room.set()
        return item

    def _received(self, timeout=None):
        """The next (kind, value, arrival time) received, or None; waits up to `timeout` seconds if given."""
        if self.early is not None:
            item, self.early = self.early, None
            return item
        if self.items:
            return self._pop()
        if timeout is None:
            return None
        self.ready.clear()
        self.idle = True
        try:
            if not self.items:  # an item put since the check above set no event: the consumer was not idle yet
                self.ready.wait(timeout)
        finally:
            self.idle = False
        return self._pop() if self.items else None

    def take(self, deadline, until=None):
        """The next (kind, value); yields IDLE through each second of silence. ("grace", None) once `until`
        (a monotonic time) has passed; HFError("timeout") once the deadline has.

        An item is judged by when it arrived, not by when the consumer got to it: a consumer held up by its own
        reader (a browser that stopped reading) must not turn an answer that came in time into a timeout.
        Draining, nothing is waited for: IDLE as soon as nothing more was received."""
        while True:
            item = self.next(deadline, until)
            if item is not IDLE:
                return item
            yield IDLE

    def next(self, deadline, until=None):
        """As take(), IDLE returned instead of yielded: a stream's hot path calls it for each read without making
        two generators each time."""
        if self.reading:  # the helper handed over the response and ended: nothing more comes through the queue
            return self._read_straight(deadline, until)
        item = self._received()  # without arming a timer (under load the reader is usually ahead)
        if item is None:
            if self.draining:
                return IDLE
            left = deadline.left()
            now = time.monotonic()
            if until is not None and now >= until:
                return "grace", None
            if left <= 0:
                raise timeout_error(deadline)
            wait = min(IDLE_SECONDS, left, until - now if until is not None else IDLE_SECONDS)
            item = self._received(max(wait, 0.001))
            if item is None:
                self.signalled = time.monotonic()
                return IDLE
        kind, value, arrived = item
        # The deadline's end read now: waking an endpoint (waking.py) moves it while the answer is awaited.
        end = deadline.started + deadline.seconds
        if (until is not None and arrived >= until) or arrived > end:
            self.early = item  # for the next take, if there is one
            if until is not None and arrived >= until:
                return "grace", None
            raise timeout_error(deadline)
        if kind == "data" and self.items and self.items[0][0] == "data":
            value = self._joined(value, end, until)
        elif kind == "response" and self.body is not None:
            self.reading = True
        return kind, value

    def _read_straight(self, deadline, until):
        """next() once the consumer reads the body itself: as long a wait as next() would make, no longer.

        Past `until` or the deadline, what already waits in the socket still counts, as the helper's queue did: a
        consumer held up by its own caller (a client that stopped reading) gets the answer that came meanwhile,
        not a timeout nor "the server went silent". Past the deadline that is at most HELD_BYTES, then the end."""
        now, end = time.monotonic(), deadline.started + deadline.seconds
        grace = until is not None and now >= until
        late = now >= end
        if grace or late or self.draining:
            wait = 0.0
        else:
            wait = min(IDLE_SECONDS, end - now, until - now if until is not None else IDLE_SECONDS)
        if late and not grace and self.late_bytes >= HELD_BYTES:
            raise timeout_error(deadline)
        try:
            data = self.body.read(wait)
        except (OSError, straight_body.FramingError) as exc:
            return "error", connection_failure(exc)
        if data is None:
            if grace:
                return "grace", None
            if late:
                raise timeout_error(deadline)
            self.signalled = time.monotonic()
            return IDLE
        if late:
            self.late_bytes += len(data)
        return ("data", data) if data else ("end", None)

    def _joined(self, value, end, until):
        """`value` and the data right behind it that came in time, as one: a consumer fallen behind (a thousand
        streams at once) then handles and writes once per wake-up instead of once per read."""
        parts, items, size = [value], self.items, len(value)
        while items and items[0][0] == "data" and size + len(items[0][1]) <= JOINED_BYTES:
            arrived = items[0][2]
            if (until is not None and arrived >= until) or arrived > end:
                break  # judged on its own by the next take
            size += len(items[0][1])
            parts.append(self._pop()[1])
        return b"".join(parts)

    def take_event(self, deadline, last_data, grace_until=None):
        """The next item of a stream: as take(), with the wait between two events bounded by HF_READ_TIMEOUT after
        `last_data` (keep-alive comments are not data). ("grace", None) once `grace_until` passed (a finish reason
        came and the stream may still send its usage and end); HFError("timeout") for the silence otherwise."""
        while True:
            item = self.next_event(deadline, last_data, grace_until)
            if item is not IDLE:
                return item
            yield IDLE

    def next_event(self, deadline, last_data, grace_until=None):
        """As take_event(), IDLE returned instead of yielded (see next())."""
        silent_until = last_data + self.read_timeout
        until = min(silent_until, grace_until or silent_until)
        # next()'s first step taken here once the body is read straight: a call less on every read of a stream.
        item = self._read_straight(deadline, until) if self.reading else self.next(deadline, until)
        if item is not IDLE and item[0] == "grace" and grace_until is None:
            raise HFError(
                "timeout",
                _("The server sent no data for %(seconds)s seconds.") % {"seconds": round(self.read_timeout)},
            )
        return item

    def quiet(self):
        """IDLE when bytes came but nothing for the consumer for a second (keep-alive comments, a drip)."""
        if not self.draining and time.monotonic() - self.signalled >= IDLE_SECONDS:
            self.signalled = time.monotonic()
            yield IDLE

    def stop(self):
        self.stopped.set()
        if self.body is not None:  # read by the consumer, so no read of the helper's to end
            self.body.close()  # back to the pool when read to its end; else the connection is closed
            return
        sock = self.sock
        if sock is not None and self._released(sock):
            # Read to its end, the connection went back to the pool: the socket may already carry another
            # request (of another stream), which a shutdown here would cut.
            return
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _released(self, sock):
        conn, response = self.conn, self.response
        return (
            conn is not None
            and response is not None
            and getattr(response.raw, "connection", None) is None
            and getattr(conn, "sock", None) is sock
        )


def _start_helper(run, *args):
    """Run `run(*args)` beside the caller: in a greenlet of its own where gevent patched threading (gunicorn's
    gevent workers), in a daemon thread otherwise. A patched Thread is a greenlet too, with a thread's bookkeeping
    on top (a start handshake, the registry of running threads), which cost a relayed stream ~2% of its CPU."""
    if monkey.is_module_patched("threading"):
        gevent.spawn(run, *args)
    else:
        threading.Thread(target=run, args=args, name="hf-stream", daemon=True).start()


def _body_reads(response):
    """A function giving the next bytes of an open response's body, one socket read at most, and b"" at its end.
    A chunked body with nothing to decode is read with http.client's own read1, without urllib3's wrapping of each
    read (a context manager, a buffer: a third of a read's CPU, and a stream reads once per event); urllib3 reads
    the end, which gives the connection back to its pool. A failure is raised either way, and named alike."""
    raw = response.raw
    fp = getattr(raw, "_fp", None)  # urllib3's http.client.HTTPResponse
    if getattr(fp, "chunked", False) is True and hasattr(fp, "read1") and "Content-Encoding" not in response.headers:
        return lambda: fp.read1(READ_SIZE) or raw.read1(READ_SIZE, decode_content=True)
    return lambda: raw.read1(READ_SIZE, decode_content=True)


class Generation:
    """generate()'s items while its reader runs: closing it stops the reader, also before the first item is
    taken (a generator not yet started would skip its `finally`)."""

    def __init__(self, reader, items, joins=True):
        self.reader, self.items = reader, items
        self.joins = joins  # False: each item is already all of one read (a relay's events)

    @property
    def waking(self):
        """Whether its endpoint is being woken for it, now (huggingface/waking.py)."""
        return self.reader.deadline.waking_since is not None

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.items)

    def joined(self, lines):
        """`lines` (bytes made from this generation's items), those made while more was ready joined into one:
        a server fallen behind (a thousand streams) then writes once per read instead of once per token."""
        return self._joined(lines) if self.joins else lines

    def _joined(self, lines):
        waiting = []
        for line in lines:
            if self.reader.backlog:
                waiting.append(line)
                continue
            if waiting:
                waiting.append(line)
                line, waiting = b"".join(waiting), []
            yield line
        if waiting:
            yield b"".join(waiting)

    def received(self):
        """The items left in what was already received, without waiting for more (the reader is stopped): the
        caller's own reader went away, and this says whether the upstream's answer had come complete."""
        self.reader.stopped.set()
        self.reader.draining = True
        try:
            for item in self.items:
                if item is IDLE:
                    return
                yield item
        except HFError:
            return

    def close(self):
        try:
            self.items.close()
        finally:
            self.reader.stop()

    def __del__(self):  # dropped unread: the reader must not wait out the deadline for a taker
        self.reader.stop()

"""The served worker's write to the browser (config/gevent_worker.py): same bytes, same errors, cheaper."""

import gevent
import pytest
from gevent import socket as gsocket

from config.gevent_worker import _ClientSocket


@pytest.fixture
def pair():
    server, browser = gsocket.socketpair()
    server.__class__ = _ClientSocket  # as the worker does with each accepted connection
    yield server, browser
    server.close()
    browser.close()


def _read_all(sock, size):
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        gevent.sleep(0)  # a slow reader: the writer must wait for room, not drop or reorder
    return bytes(data)


def test_make_run_serves_with_the_cheaper_worker(settings):
    from config import gunicorn

    assert settings.WEB_WORKER_CLASS == "gevent"
    assert gunicorn.worker_class == "config.gevent_worker.Worker"


def test_a_small_write_arrives_whole(pair):
    server, browser = pair
    server.sendall(b'{"type": "token", "text": "Hi"}\n')
    assert browser.recv(100) == b'{"type": "token", "text": "Hi"}\n'


def test_a_write_larger_than_the_socket_buffer_arrives_whole_and_in_order(pair):
    server, browser = pair
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB, far more than a socket buffer holds
    reader = gevent.spawn(_read_all, browser, len(payload))
    server.sendall(payload)
    assert reader.get(timeout=30) == payload


def test_a_write_to_a_gone_browser_still_fails(pair):
    server, browser = pair
    browser.close()
    with pytest.raises(OSError):
        for _ in range(100):  # the first write may still be taken by the kernel; a later one is refused
            server.sendall(b"x" * 65536)

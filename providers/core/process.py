"""Which server process this is (host:master pid:instance:pid), so that rows it owns while in flight (playground
runs, API calls) can be ended by another process once it is gone; and the owners whose process is gone."""

import os
import socket

HOST = socket.gethostname()
_identity = {}


def set_identity(master_pid, instance):
    """Called in each gunicorn worker: its master's pid and that server instance's token (a restarted server
    in a container often gets the same master pid, never the same token)."""
    _identity[os.getpid()] = f"{HOST}:{master_pid}:{instance}:{os.getpid()}"


def worker_id():
    """host:master pid:instance:pid of this process (outside gunicorn: the parent's pid and no instance)."""
    pid = os.getpid()
    if pid not in _identity:
        _identity[pid] = f"{HOST}:{os.getppid()}:-:{pid}"
    return _identity[pid]


def owner(pid, master_pid, instance):
    return f"{HOST}:{master_pid}:{instance}:{pid}"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def previous_instances(owners, master_pid, instance):
    """Among `owners` (worker ids on any host), those on this host of another server instance whose master is
    gone (its pid is ours now, or no process has it)."""
    dead = []
    for name in owners:
        try:
            host, master, owner_instance, _pid = name.rsplit(":", 3)
            master = int(master)
        except ValueError:
            continue
        if host == HOST and owner_instance != instance and (master == master_pid or not _alive(master)):
            dead.append(name)
    return dead

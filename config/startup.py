"""What every start-up path (manage.py, the WSGI module, the gunicorn config) does first: keep the data private.

The umask makes every file the process creates (SQLite and its -wal/-shm, the cache, .env) readable by its owner
only, whatever umask the shell had. DATA_DIR is created with mode 700; an existing one that others can enter is
reported in one line, and made private when it is ours. A module-level flag keeps it to once per process tree
(gunicorn workers are forked from the master that already checked).
"""

import os
import stat
import sys

PRIVATE_UMASK = 0o077
_done = False


def harden():
    global _done
    os.umask(PRIVATE_UMASK)
    if _done:
        return
    _done = True
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    try:
        line = secure_data_dir(settings.DATA_DIR)
    except OSError as exc:
        line = f"WARNING cannot make the data folder {settings.DATA_DIR} private: {exc.strerror or exc}"
    if line:
        sys.stderr.write(line + "\n")


def secure_data_dir(path):
    """Create DATA_DIR private, or make an existing one private; returns the one line to report, or ""."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
        return ""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    too_open = [item for item in _tree(path) if _open_to_others(item)]
    if not too_open:
        return ""
    theirs = [item for item in too_open if os.lstat(item).st_uid != os.geteuid()]
    for item in too_open:
        if item not in theirs:
            os.chmod(item, 0o700 if os.path.isdir(item) else 0o600)
    if theirs:
        return (
            f"WARNING the data folder {path} (mode {mode:o}) holds {len(theirs)} item(s) of another user that "
            f"other users can read; run `chmod -R go-rwx {path}` as their owner"
        )
    return (
        f"WARNING the data folder {path} (mode {mode:o}) had {len(too_open)} item(s) other users could read; "
        "made them private (folders 700, files 600)"
    )


def _tree(path):
    yield path
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            yield os.path.join(folder, name)


def _open_to_others(item):
    try:
        info = os.lstat(item)
    except OSError:
        return False
    return not stat.S_ISLNK(info.st_mode) and bool(info.st_mode & 0o077)

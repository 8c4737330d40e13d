"""The master's sweeps fork a child (config/gunicorn_hooks.py, _in_master), and gunicorn calls them from its
SIGCHLD handler: a worker's exit reaped while the master forks must not fork again inside that fork."""

import textwrap

from tests.served import python

SCRIPT = textwrap.dedent(
    """
    import os, signal

    forks = []

    def exited_meanwhile():  # a worker exits while the first fork's callbacks still run in the master
        if not forks:
            os.kill(os.getpid(), signal.SIGCHLD)
            for _ in range(3):  # Python runs its signal handlers between bytecodes: here, inside this callback
                pass

    # Registered before concurrent.futures' lock (which the interpreter takes before a fork and releases after
    # it, in the parent, once this callback is done), as logging's own callback is in gunicorn's master.
    os.register_at_fork(after_in_parent=exited_meanwhile)
    import concurrent.futures.thread  # noqa: F401

    from config import gunicorn_hooks

    def reap(signum, frame):  # as gunicorn's handle_chld: a worker reaped, its sweep forked
        if not forks:
            forks.append("nested")
            gunicorn_hooks._in_master("sweep_worker", "no-such-lease")

    signal.signal(signal.SIGCHLD, reap)
    gunicorn_hooks._in_master("sweep_worker", "no-such-lease")
    print("both forks returned", forks, flush=True)
    """
)


def test_a_sweep_forked_while_another_forks_does_not_hang_the_master(tmp_path):
    # The sweeps' children find no tables here; what they log is not the point.
    done = python(SCRIPT, tmp_path, timeout=30, LOG_LEVEL="CRITICAL")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "both forks returned ['nested']" in done.stdout

"""Runs name their owner by its lease, and a run is swept only when that lease is gone or stale: never by host name
and pid, never while its owner's lease is live."""

import os
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from providers.core import leases
from providers.models import Lease, PlaygroundRun, RunStatus
from providers.playground import lifecycle as run_lifecycle

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(hours=1)


def lease(lease_id, host="console", pid=7, seen_ago=timedelta(0), instance="i"):
    now = timezone.now()
    return Lease.objects.create(
        id=lease_id, instance=instance, host=host, pid=pid, started_at=now - LONG_AGO, seen_at=now - seen_ago
    )


def run_of(user, owner, output="The sky"):
    # heartbeat long past: whatever the heartbeat says, only the owner's lease decides
    return PlaygroundRun.objects.create(
        user=user, model_name="x", worker=owner, output=output, heartbeat_at=timezone.now() - LONG_AGO
    )


def status(run):
    run.refresh_from_db()
    return run.status


def test_a_process_lease_names_its_runs_and_says_who_it_is(member_user):
    leases.renew()
    try:
        held = Lease.objects.get(pk=run_lifecycle.worker_id())
        assert (held.host, held.pid, held.key_ids) == (socket.gethostname(), os.getpid(), ["test1"])
        assert str(os.getpid()) not in held.id and socket.gethostname() not in held.id  # random, not host+pid
        assert Lease.objects.live().filter(pk=held.pk).exists()
    finally:
        leases.release()
    assert not Lease.objects.filter(pk=run_lifecycle.worker_id()).exists()


def test_owners_with_the_same_host_and_pid_never_sweep_each_others_live_runs(member_user):
    """Two servers in containers of one host name, each with pid 7: neither is judged by who it seems to be."""
    lease("a" * 32, host="console", pid=7)
    lease("b" * 32, host="console", pid=7)
    theirs, ours = run_of(member_user, "a" * 32), run_of(member_user, "b" * 32)
    leases.set_id("b" * 32, "i")
    try:
        assert run_lifecycle.sweep_abandoned() == 0
        assert run_lifecycle.sweep_instances(["other"]) == 0
    finally:
        leases.set_id(leases.new_id())
    assert status(theirs) == status(ours) == RunStatus.RUNNING
    assert Lease.objects.count() == 2


def test_a_run_whose_owner_lease_is_stale_or_gone_ends_interrupted_with_its_text(member_user, settings):
    settings.RUN_STALE_SECONDS = 10
    lease("live", seen_ago=timedelta(seconds=2))
    lease("stale", seen_ago=timedelta(seconds=8.5))
    live, stale, gone = (run_of(member_user, owner) for owner in ("live", "stale", "gone"))
    assert run_lifecycle.sweep_abandoned() == 2
    assert status(live) == RunStatus.RUNNING
    for run in (stale, gone):
        run.refresh_from_db()
        assert (run.status, run.error_category, run.output) == (RunStatus.INTERRUPTED, "run_interrupted", "The sky")
    assert list(Lease.objects.values_list("pk", flat=True)) == ["live"]  # the stale lease goes with its runs


def test_a_dead_worker_or_server_ends_its_own_runs_only(member_user):
    lease("dead worker", instance="old")
    lease("its sibling", instance="old")
    lease("other server", instance="new")
    runs = {owner: run_of(member_user, owner) for owner in ("dead worker", "its sibling", "other server")}
    assert run_lifecycle.sweep_worker("dead worker") == 1
    assert [status(runs[o]) for o in runs] == [RunStatus.INTERRUPTED, RunStatus.RUNNING, RunStatus.RUNNING]
    assert run_lifecycle.sweep_instances(["old"]) == 1
    assert [status(runs[o]) for o in runs] == [RunStatus.INTERRUPTED, RunStatus.INTERRUPTED, RunStatus.RUNNING]
    assert list(Lease.objects.values_list("pk", flat=True)) == ["other server"]


def test_a_run_whose_final_write_is_given_up_ends_interrupted_by_its_own_process(member_user, monkeypatch):
    """No other process sweeps a run of a live lease, so its own process ends it when it stops retrying."""
    run = run_of(member_user, run_lifecycle.worker_id())

    class Unsaveable:
        def write_final(self):
            return False

        def write_seen(self):  # not even what the person saw could be written
            return False

    relay = Unsaveable()
    relay.run = run
    monkeypatch.setattr(run_lifecycle, "FINAL_RETRY_SECONDS", 0)
    run_lifecycle.retry_final(relay)
    run_lifecycle._retry_finals()
    assert status(run) == RunStatus.INTERRUPTED and run.output == "The sky"


def test_a_starting_server_takes_for_gone_only_the_servers_whose_lock_nobody_holds(settings, tmp_path):
    """What gunicorn's master sweeps at start-up: servers of its DATA_DIR all of whose processes ended."""
    import fcntl

    from config import gunicorn_hooks

    settings.DATA_DIR = tmp_path
    (tmp_path / "instances").mkdir()
    (tmp_path / "instances" / "crashed.lock").touch()
    with open(tmp_path / "instances" / "running.lock", "w") as running:
        fcntl.flock(running, fcntl.LOCK_EX)  # another server on this machine, alive
        try:
            assert gunicorn_hooks.gone_servers() == ["crashed"]
        finally:
            gunicorn_hooks.on_exit(None)
            gunicorn_hooks._held.clear()
    assert sorted(p.name for p in (tmp_path / "instances").iterdir()) == ["running.lock"]

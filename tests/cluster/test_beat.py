"""Exactly one beat: a second one waits as a standby and leads once the first is gone (renergy/beat.py)."""

from __future__ import annotations

import subprocess
import time

from renergy.beat import LEADER_LOCK_KEY
from tests.cluster.harness import VENV_BIN, Cluster, Proc


def _wait_for(proc: Proc, text: str, *, seconds: float) -> float:
    begun = time.monotonic()
    while time.monotonic() - begun < seconds:
        if text in proc.output():
            return time.monotonic() - begun
        assert proc.alive(), proc.output()[-2000:]
        time.sleep(0.05)
    raise AssertionError(f"{proc.name} did not log {text!r} within {seconds} s:\n{proc.output()[-2000:]}")


def _lock_holders(cluster: Cluster) -> list[str]:
    """application_name of the sessions holding the leader lock (a bigint key is split into two int4 halves)."""
    key = LEADER_LOCK_KEY & 0xFFFFFFFFFFFFFFFF
    rows = cluster.sql(
        "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s AND l.objid::bigint = %s "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        [key >> 32, key & 0xFFFFFFFF],
    )
    return [str(pid) for (pid,) in rows]


SENT = "Sending due task every-second"


def test_a_second_beat_stands_by_and_takes_over_when_the_leader_is_killed(cluster: Cluster) -> None:
    """Two real beats: only the leader sends the schedule; killed, the standby sends it within a bound."""
    # A task due every second makes a beat that runs visible in its log (the worker runs the harmless built-in).
    code = (
        "import django; django.setup(); from django_celery_beat.models import IntervalSchedule, PeriodicTask; "
        "every = IntervalSchedule.objects.create(every=1, period='seconds'); "
        "PeriodicTask.objects.create(name='every-second', task='celery.backend_cleanup', interval=every)"
    )
    subprocess.run([str(VENV_BIN / "python"), "-c", code], env=cluster.env(), check=True, timeout=60)  # noqa: S603
    leader = cluster.procs["beat"]
    _wait_for(leader, "beat: leader", seconds=60)
    standby = cluster.beat_start("beat2")
    try:
        _wait_for(standby, "beat: standby", seconds=60)
        _wait_for(leader, SENT, seconds=30)
        assert len(_lock_holders(cluster)) == 1
        time.sleep(2)  # a standby stays one: it polls, and the lock is still held
        assert "beat: leader" not in standby.output() and SENT not in standby.output()
        sent_by_leader = leader.output().count(SENT)

        killed_at = time.monotonic()
        leader.kill()
        led = _wait_for(standby, "beat: leader", seconds=15)
        _wait_for(standby, SENT, seconds=15)
        sending = time.monotonic() - killed_at
        assert sending < 10, sending
        assert len(_lock_holders(cluster)) == 1
        print(
            f"[cluster] beat failover: the leader sent {sent_by_leader} due tasks, the standby none; after SIGKILL "
            f"of the leader the standby led after {led:.2f} s and sent its first due task after {sending:.2f} s"
        )
    finally:
        cluster.sql("UPDATE django_celery_beat_periodictask SET enabled = false WHERE name = 'every-second'")
        cluster.sql("UPDATE django_celery_beat_periodictasks SET last_update = now()")  # beat reloads on this
    cluster.procs["beat"] = standby

"""Exactly one beat: a second one waits as a standby and leads once the first is gone (renergy/beat.py)."""

from __future__ import annotations

import time

from renergy.beat import LEADER_LOCK_KEY
from tests.cluster.harness import Cluster, Proc


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


def test_a_second_beat_stands_by_and_takes_over_when_the_leader_is_killed(cluster: Cluster) -> None:
    leader = cluster.procs["beat"]
    _wait_for(leader, "beat: leader", seconds=60)
    standby = cluster.beat_start("beat2")
    _wait_for(standby, "beat: standby", seconds=60)
    assert len(_lock_holders(cluster)) == 1
    time.sleep(1.5)  # a standby stays one: it polls, and the lock is still held
    assert "beat: leader" not in standby.output()

    killed_at = time.monotonic()
    leader.kill()
    failover = _wait_for(standby, "beat: leader", seconds=15)
    assert failover < 5, failover
    assert len(_lock_holders(cluster)) == 1
    print(f"[cluster] beat failover: standby led {time.monotonic() - killed_at:.2f} s after SIGKILL of the leader")
    cluster.procs["beat"] = standby

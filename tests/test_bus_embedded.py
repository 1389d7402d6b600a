"""The embedded bus keeps Kafka's promises on one machine: durable once flushed, ordered per
key, committed offsets per consumer group, at-least-once replay of what was not committed."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from sinoscope.core.bus.embedded import EmbeddedBus, partition_for


@pytest.fixture
def bus(tmp_path):
    b = EmbeddedBus(tmp_path / "bus.sqlite", partitions=3)
    yield b
    b.close()


def test_round_trip_and_per_key_order(bus):
    for i in range(30):
        bus.publish("t", f"k{i % 5}", f"v{i}".encode())
    bus.flush()
    with bus.consumer("g", ["t"]) as c:
        got = c.poll(max_records=100, timeout_s=0.1)
    assert len(got) == 30
    for key in {r.key for r in got}:
        values = [int(r.value[1:]) for r in got if r.key == key]
        assert values == sorted(values), "messages of one key must keep their order"
        assert len({r.partition for r in got if r.key == key}) == 1
        assert {r.partition for r in got if r.key == key} == {partition_for(key, 3)}


def test_nothing_visible_before_flush(bus):
    bus.publish("t", "a", b"1")
    with bus.consumer("g", ["t"]) as c:
        assert c.poll(timeout_s=0.05) == []
    bus.flush()
    with bus.consumer("g", ["t"]) as c:
        assert [r.value for r in c.poll(timeout_s=0.05)] == [b"1"]


def test_commit_resumes_and_uncommitted_replays(tmp_path):
    path = tmp_path / "bus.sqlite"
    b = EmbeddedBus(path, partitions=2)
    for i in range(10):
        b.publish("t", f"k{i}", str(i).encode())
    b.flush()
    c = b.consumer("workers", ["t"])
    first = c.poll(max_records=4, timeout_s=0.1)
    c.commit(first)
    second = c.poll(max_records=3, timeout_s=0.1)  # polled, never committed: a crash here
    assert second
    c.close()
    b.close()

    b2 = EmbeddedBus(path)
    c2 = b2.consumer("workers", ["t"])
    rest = c2.poll(max_records=100, timeout_s=0.1)
    got = {r.value for r in rest}
    assert {r.value for r in first}.isdisjoint(got), "committed messages must not be replayed"
    assert {r.value for r in second} <= got, "uncommitted messages must be replayed"
    assert {r.value for r in first} | got == {str(i).encode() for i in range(10)}
    c2.commit()
    assert sum(b2.group_lag("workers", "t").values()) == 0
    # another group starts from the beginning, independently
    with b2.consumer("other", ["t"]) as c3:
        assert len(c3.poll(max_records=100, timeout_s=0.1)) == 10
    b2.close()


def test_idempotent_producer_drops_a_repeat(bus):
    bus.publish("t", "a", b"x", dedup_id="article-1")
    bus.flush()
    bus.publish("t", "a", b"x", dedup_id="article-1")
    bus.publish("t", "b", b"y", dedup_id="article-2")
    bus.flush()
    assert bus.stats("t").messages == 2


def test_stats_and_lag(bus):
    for i in range(6):
        bus.publish("t", str(i), b"v")
    bus.flush()
    assert bus.stats("t").messages == 6
    assert bus.stats("missing") is None
    with bus.consumer("g", ["t"]) as c:
        c.commit(c.poll(max_records=2, timeout_s=0.1))
    assert sum(bus.group_lag("g", "t").values()) == 4


def test_flushed_messages_survive_sigkill(tmp_path):
    """A publisher killed right after flush() returned loses nothing it was told is durable."""
    path = tmp_path / "bus.sqlite"
    script = textwrap.dedent(f"""
        import os, sys
        from sinoscope.core.bus.embedded import EmbeddedBus
        b = EmbeddedBus({str(path)!r})
        for i in range(500):
            b.publish("t", str(i), b"payload-%d" % i)
        b.flush()
        print("flushed", flush=True)
        b.publish("t", "late", b"never-flushed")
        os.kill(os.getpid(), 9)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert "flushed" in proc.stdout
    b = EmbeddedBus(path)
    values = {r.value for r in b.read("t")}
    b.close()
    assert values == {b"payload-%d" % i for i in range(500)}


def test_values_must_be_bytes(bus):
    with pytest.raises(TypeError):
        bus.publish("t", "k", {"not": "bytes"})

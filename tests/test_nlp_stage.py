"""The enrich stage on the embedded bus: articles in, enriched records out, poison records
dead-lettered with their reason without blocking the stream, offsets committed only after the
results are durable, and a replay produces no duplicate."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from nlp.stage import GROUP, enrich_stage
from nlp.tagger import Tagger
from sinoscope.core.bus.embedded import EmbeddedBus
from sinoscope.core.schemas import Article, Enriched, article_id_for


@pytest.fixture(scope="module")
def tagger():
    return Tagger(sentiment=False)  # mentions only: the model has its own tests


def article(n: int, title: str, text: str) -> Article:
    url = f"https://news.example.com/{n}"
    now = datetime(2026, 11, 20, tzinfo=UTC)
    return Article(
        id=article_id_for(url),
        url=url,
        original_url=url,
        source="test",
        outlet="Test",
        country="GB",
        language="en",
        title=title,
        text=text,
        published=now,
        fetched=now,
    )


def publish(bus, settings, items):
    for a in items:
        bus.publish(
            settings.bus.topics.articles,
            a.id if isinstance(a, Article) else "poison",
            a.to_json() if isinstance(a, Article) else a,
        )
    bus.flush()


def read(bus, topic):
    return [json.loads(r.value) for r in bus.read(topic)] if topic in bus.topics() else []


def test_enriches_articles_and_dead_letters_poison(settings, tagger):
    bus = EmbeddedBus(settings.path("bus.sqlite"))
    good = [
        article(1, "BYD overtakes Tesla in Europe", "BYD sold more cars than Tesla. Chengdu welcomed tourists."),
        article(2, "Nothing about China here", "The weather in Paris was mild."),
    ]
    huge = article(3, "Huge", "Shenzhen " * 40_000)
    empty = article(4, "", "")
    publish(bus, settings, [good[0], b"\xff\xfe not json", empty, huge, good[1], b'{"schema": "article/1"}'])
    stage = enrich_stage(bus, settings, tagger)
    stats = stage.run(until_idle=True, poll_timeout_s=0.1)
    assert stats.records == 6 and stats.outputs == 2 and stats.dead_lettered == 4

    enriched = [Enriched.model_validate(e) for e in read(bus, settings.bus.topics.enriched)]
    assert [e.article.id for e in enriched] == [good[0].id, good[1].id] or sorted(
        e.article.id for e in enriched
    ) == sorted(a.id for a in good)
    byd = next(e for e in enriched if e.article.id == good[0].id)
    assert [(m.entity_id, m.field) for m in byd.mentions] == [
        ("brand:byd", "title"),
        ("brand:byd", "text"),
        ("city:chengdu", "text"),
    ]
    assert byd.mentions[2].sentence == "Chengdu welcomed tourists."
    assert len({m.id for m in byd.mentions}) == 3 and all(m.id.startswith(good[0].id) for m in byd.mentions)
    assert byd.language == "en"
    # the article's tone toward each entity: one row per entity, resting on its mentions
    assert [(e.entity_id, e.mentions) for e in byd.entities] == [("brand:byd", 2), ("city:chengdu", 1)]
    chengdu, mention = byd.entities[1], byd.mentions[2]
    assert (chengdu.sentiment and chengdu.sentiment.label) == (mention.sentiment and mention.sentiment.label)

    dead = read(bus, settings.bus.topics.dead_letter)
    reasons = sorted(d["reason"].split(":")[0] for d in dead)
    assert reasons == ["article too long to tag", "empty article", "undecodable article", "undecodable article"]
    assert all(d["stage"] == "nlp" and d["source_topic"] == "articles" for d in dead)
    assert any("\\xff" in json.dumps(d["payload"]) or "not json" in d["payload"]["value"] for d in dead)
    assert sum(bus.group_lag(GROUP, settings.bus.topics.articles).values()) == 0
    bus.close()


def test_a_stage_overlapping_its_upstream_drains_only_once_the_upstream_has_finished(settings, tagger):
    """A pass whose stages overlap: the topic is empty for a while and filled in bursts by a stage
    running alongside (another thread, its own bus connection, as in `run --once`); the stage
    keeps polling through the gaps and stops only after draining what came before the end."""
    import threading
    import time

    bus = EmbeddedBus(settings.path("bus.sqlite"))
    upstream = EmbeddedBus(settings.path("bus.sqlite"))
    items = [article(i, f"Story {i} about Huawei", "Huawei said so.") for i in range(30)]
    done = threading.Event()

    def produce() -> None:
        for k in range(0, 30, 10):
            time.sleep(0.5)  # longer than the stage's empty polls: it sees an empty, caught-up topic
            publish(upstream, settings, items[k : k + 10])
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    stats = enrich_stage(bus, settings, tagger).run(until_idle=True, poll_timeout_s=0.1, upstream_done=done.is_set)
    producer.join()
    assert stats.records == 30 and stats.batches >= 3  # it went on through the gaps, and got the last burst
    assert sorted(e["article"]["id"] for e in read(bus, settings.bus.topics.enriched)) == sorted(a.id for a in items)
    assert sum(bus.group_lag(GROUP, settings.bus.topics.articles).values()) == 0
    upstream.close()
    bus.close()


def test_replay_of_an_uncommitted_batch_changes_nothing(settings, tagger):
    """A worker that published but died before committing: the batch is replayed, and the
    enriched topic still holds each article exactly once."""
    bus = EmbeddedBus(settings.path("bus.sqlite"))
    items = [article(i, f"Story {i} about Huawei", "Huawei said so.") for i in range(10)]
    publish(bus, settings, items)
    stage = enrich_stage(bus, settings, tagger)
    # simulate the crash: process and publish a batch, never commit
    with bus.consumer(GROUP, [settings.bus.topics.articles]) as c:
        batch = c.poll(max_records=4, timeout_s=0.1)
        result = stage.process(batch)
        for topic, key, value in result.outputs:
            bus.publish(topic, key, value, dedup_id=f"nlp:{key}")
        bus.flush()
    assert len(read(bus, settings.bus.topics.enriched)) == 4
    stage.run(until_idle=True, poll_timeout_s=0.1)  # the restart replays from the last commit
    out = read(bus, settings.bus.topics.enriched)
    assert sorted(e["article"]["id"] for e in out) == sorted(a.id for a in items)
    bus.close()


def test_a_failing_model_fails_the_batch_and_commits_nothing(settings):
    class Broken(Tagger):
        def tag_many(self, docs):
            raise RuntimeError("model crashed")

    bus = EmbeddedBus(settings.path("bus.sqlite"))
    publish(bus, settings, [article(1, "BYD", "BYD.")])
    stage = enrich_stage(bus, settings, Broken(sentiment=False))
    with pytest.raises(RuntimeError):
        stage.run(until_idle=True, poll_timeout_s=0.1)
    assert sum(bus.group_lag(GROUP, settings.bus.topics.articles).values()) == 1  # will be retried
    bus.close()


@pytest.mark.slow
def test_sigterm_finishes_the_batch_in_hand_and_commits(settings, tmp_path):
    """A real `sinoscope nlp run` worker gets SIGTERM mid-run: it finishes its batch, commits,
    and exits 0; what it committed is exactly what it published."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    bus = EmbeddedBus(settings.path("bus.sqlite"))
    items = [
        article(
            i,
            f"Story {i}",
            " ".join(f"BYD sold {i * 20 + k} cars in Shenzhen, where Huawei hired {k}." for k in range(12)),
        )
        for i in range(400)
    ]
    publish(bus, settings, items)
    bus.close()
    env = {**os.environ, "SINOSCOPE_DATA_DIR": str(settings.data_dir), "SINOSCOPE_NLP__BATCH_ARTICLES": "16"}
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "sinoscope"), "nlp", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        b = EmbeddedBus(settings.path("bus.sqlite"))
        n = b.stats(settings.bus.topics.enriched).messages if settings.bus.topics.enriched in b.topics() else 0
        b.close()
        if n >= 32:
            break
        time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err[-2000:]
    assert "enriched" in out
    b = EmbeddedBus(settings.path("bus.sqlite"))
    enriched = b.stats(settings.bus.topics.enriched).messages
    lag = sum(b.group_lag(GROUP, settings.bus.topics.articles).values())
    b.close()
    assert 0 < enriched < 400, "SIGTERM did not land mid-run"
    assert enriched + lag == 400, "the batch in hand was lost or committed without its results"


def test_the_shared_tagger_is_built_once_per_settings_and_again_when_a_catalogue_changes(tmp_path):
    """`run` loads the model while Prefect starts and the enrich stage, which rebuilds its settings
    from the flow's parameters, must find that same tagger; an edited extra catalogue is read again."""
    import os

    from sinoscope.core.settings import load_settings

    extra = tmp_path / "extra.yaml"
    extra.write_text("brands:\n- {id: 'brand:zhongxing-coach', name: Zhongxing Coach, aliases: [Zhongxing Coach]}\n")
    first = load_settings(None, data_dir=str(tmp_path), nlp={"sentiment": False, "catalogues": [str(extra)]})
    again = load_settings(None, data_dir=str(tmp_path), nlp={"sentiment": False, "catalogues": [str(extra)]})
    tagger = Tagger.shared(first.nlp)
    assert Tagger.shared(again.nlp) is tagger
    assert [m.entity_id for m in tagger.find("Zhongxing Coach sold buses.")] == ["brand:zhongxing-coach"]
    extra.write_text("brands:\n- {id: 'brand:zhongxing-coach', name: Zhongxing Coach, aliases: [Zhongxing Bus]}\n")
    os.utime(extra, ns=(extra.stat().st_atime_ns, extra.stat().st_mtime_ns + 1_000_000_000))
    edited = Tagger.shared(again.nlp)
    assert edited is not tagger and [m.entity_id for m in edited.find("Zhongxing Bus sold buses.")] == [
        "brand:zhongxing-coach"
    ]

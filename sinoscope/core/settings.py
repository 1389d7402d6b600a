"""One settings object for every stage.

Read, highest priority first, from: explicit overrides (the CLI), ``SINOSCOPE_*``
environment variables (nested with ``__``, e.g. ``SINOSCOPE_INGEST__TIMEOUT_S=5``), an
optional YAML file (``--config`` or ``SINOSCOPE_CONFIG``), then the defaults below. Every
default serves the embedded run, so no file is needed at all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from .errors import SinoscopeError

PROJECT_URL = "https://github.com/sinoscope/sinoscope"


class IngestSettings(BaseModel):
    sources_file: Path | None = Field(
        None, description="YAML catalogue of feeds; None means the bundled sample corpus."
    )
    user_agent: str = f"Sinoscope/0.1 (+{PROJECT_URL}; overseas media monitor)"
    timeout_s: float = Field(20.0, description="Per-request connect/read timeout.")
    deadline_s: float = Field(60.0, description="Whole-request wall clock limit (slow trickle).")
    max_feed_bytes: int = 10 * 1024 * 1024
    max_page_bytes: int = 4 * 1024 * 1024
    max_redirects: int = 5
    private_network_allowlist: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description='CIDRs of non-public addresses feeds may be fetched from (an intranet: ["10.20.0.0/16"]); '
        "every other loopback, private, link-local... address is blocked (see docs/security.md).",
    )
    per_host_interval_s: float = Field(1.0, description="Minimum gap between requests to one host.")
    host_intervals_s: dict[str, float] = Field(
        default_factory=lambda: {"api.gdeltproject.org": 5.0},
        description="Longer gaps for hosts that ask for them (GDELT's DOC API: one request every 5 s).",
    )
    workers: int = Field(
        8,
        description="Feeds fetched in parallel by `ingest` (network bound); the Prefect ingest "
        "flow runs 8 task threads, bounded per host by per_host_concurrency.",
    )
    parse_processes: int | None = Field(
        None,
        description="Worker processes that parse feeds and compute near-duplicate signatures (CPU bound, "
        "pure Python): unset, one per core where there are several; 0 parses in the fetching threads.",
    )
    parse_timeout_s: float = Field(
        120.0,
        description="A feed whose parsing takes longer in its worker process is failed and the worker "
        "stopped (a hostile feed cannot stall ingest); not enforced with parse_processes 0.",
    )
    unconditional_refresh_h: float = Field(
        3.0, description="Fetch without ETag/Last-Modified at least this often (lying servers)."
    )
    backoff_base_s: float = 300.0
    backoff_max_s: float = 6 * 3600.0
    failing_after: int = Field(3, description="Consecutive failures before a source is flagged.")
    fetch_full_text: bool = True
    min_fulltext_chars: int = Field(80, description="Feed content shorter than this is a teaser: fetch the page.")
    near_dup_threshold: float = Field(0.7, description="Estimated Jaccard for syndicated copies.")
    near_dup_window_days: int = Field(
        30, description="Copies are looked for among articles published within this many days."
    )
    max_future_skew_h: float = Field(2.0, description="Later published dates are not believed.")
    oldest_plausible_year: int = 1995
    per_host_concurrency: int = Field(
        2, description="Feeds of one host fetched at once across all workers (a Prefect concurrency limit)."
    )
    task_retries: int = Field(
        2, description="Retries of a source's task in one pass on timeouts, network errors and 5xx."
    )
    task_retry_delays_s: list[float] = Field(
        default_factory=lambda: [10.0, 60.0], description="Waits before those retries."
    )
    task_timeout_s: float = Field(300.0, description="A source's task is failed after this long.")
    query_entities: list[str] = Field(default_factory=list, description="Entities to expand query-feed templates with.")


class NlpSettings(BaseModel):
    catalogues: list[Path] = Field(default_factory=list, description="Extra city/brand YAML files.")
    sentiment: bool = Field(True, description="Score sentiment with the transformer (off: mentions only).")
    precision: Literal["auto", "bf16", "int8", "fp32"] = Field(
        "auto",
        description="Transformer arithmetic: auto is bf16 where the CPU has it natively (AVX512-BF16/AMX; "
        "1.9x fp32's speed, same labels on 99.7% of dev), else int8 (2.2x, ~95%).",
    )
    entity_tone: Literal["mentions", "model"] = Field(
        "mentions",
        description="The article's tone toward an entity: its mentions taken together, or (model) the "
        "model reading all of them at once; on the city/brand dev set 0.775 against 0.754 "
        "macro-F1, and the model path costs a second pass.",
    )
    batch_articles: int = Field(
        256,
        description="Articles tagged per batch (one model call, its inputs sorted by length into batches of 64): "
        "at 64 articles the length-sorted batches still carried 47% padding, at 256 7% (the model's time -25%).",
    )
    max_article_chars: int = Field(300_000, description="Longer articles are dead-lettered as poison.")
    threads: int | None = Field(None, description="Torch threads (default: all cores).")
    newsmtsc_dir: Path | None = Field(None, description="NewsMTSC data (default ../shared/data/newsmtsc).")


class SinkSettings(BaseModel):
    kind: Literal["embedded", "elasticsearch"] = "embedded"
    es_url: str = Field("http://localhost:9200", description="Elasticsearch URL (kind: elasticsearch).")
    es_username: str | None = None
    es_password: SecretStr | None = Field(
        None, description="From SINOSCOPE_SINK__ES_PASSWORD, never a file in the repo."
    )
    es_api_key: SecretStr | None = Field(None, description="From SINOSCOPE_SINK__ES_API_KEY.")
    es_verify_certs: bool = True
    es_ca_certs: Path | None = None
    es_timeout_s: float = 30.0
    es_index_prefix: str = "sinoscope"
    es_retention_days: int = Field(730, description="Elasticsearch indices older than this are deleted (ILM).")
    retention_days: int = Field(730, description="Embedded store: articles published earlier are pruned.")
    bus_retention_days: float = Field(7.0, description="Embedded bus: consumed messages older than this are pruned.")
    es_initial_backoff_s: float = 1.0
    kibana_url: str = Field("http://localhost:5601", description="Kibana, for `sinoscope kibana setup`.")


class TopicSettings(BaseModel):
    articles: str = "articles"
    enriched: str = "enriched"
    dead_letter: str = "deadletter"


class BusSettings(BaseModel):
    kind: Literal["embedded", "kafka"] = "embedded"
    bootstrap: str = Field("localhost:9092", description="Kafka bootstrap servers (kind: kafka).")
    partitions: int = Field(4, description="Partitions of a topic created by Sinoscope.")
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = Field(
        6_000,
        description="A worker silent this long leaves its group (Kafka's floor, group.min.session.timeout.ms). "
        "A group's first join waits on the broker (Kafka: group.initial.rebalance.delay.ms; tansu: half of this).",
    )
    heartbeat_interval_ms: int = 1_000
    request_timeout_ms: int = 30_000
    batch_bytes: int = Field(
        262_144,
        description="Producer batch size per partition: articles are ~10 KB, and at Kafka's 16 KB default each "
        "produce request carried one article per partition (2,000 articles: 3.7-4.4 s against 2.4-2.8 s).",
    )
    topics: TopicSettings = TopicSettings()


class Thresholds(BaseModel):
    """Swing thresholds; settings can override them per entity type or per entity."""

    window_h: float = Field(48.0, description="The current window: the last this many hours.")
    baseline_days: float = Field(28.0, description="The baseline: this many days before the window.")
    min_mentions: int = Field(12, description="Mentions needed in the window for any alert.")
    min_stories: int = Field(3, description="Distinct stories (syndicated copies count once) in the window.")
    min_baseline_mentions: int = Field(10, description="Mentions needed in the baseline.")
    min_baseline_days: int = Field(7, description="Distinct days with mentions needed in the baseline.")
    sentiment_z: float = Field(3.0, description="|z| of the mean-sentiment change that fires.")
    sentiment_min_shift: float = Field(0.3, description="Smallest change of mean sentiment that fires.")
    sentiment_sd_floor: float = Field(0.25, description="Lower bound on the baseline's standard deviation.")
    volume_z: float = Field(3.0, description="z of the window's mention count that fires a volume spike.")
    volume_ratio: float = Field(3.0, description="Window count must also be this many times the expected.")
    cooldown_h: float = Field(72.0, description="No second alert of a kind for an entity within this time.")


class AlertSettings(BaseModel):
    webhooks: list[str | dict[str, str]] = Field(
        default_factory=list,
        description="Webhook targets: URLs (Slack incoming-webhook URLs, or 'slack+URL', get Slack's format) "
        "or {url, format: json|slack}. `--webhook URL` on run/serve adds more.",
    )
    thresholds: Thresholds = Thresholds()
    overrides: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Threshold changes per entity type (city, brand) or entity id (city:chengdu); "
        "an entity's own entry wins over its type's.",
    )
    stream: bool = Field(
        True,
        description="Under `serve`, the sink worker runs swing detection for the entities each batch touched "
        "right after writing it (the scheduled alert pass stays as a safety net).",
    )
    timeout_s: float = Field(10.0, description="Per-request timeout of a webhook POST.")
    attempts_per_pass: int = Field(3, description="Tries per delivery within one alert pass (exponential backoff).")
    backoff_s: float = Field(1.0, description="First wait between tries within a pass.")
    retry_base_s: float = Field(60.0, description="Wait before the next pass retries a failed delivery (doubles).")
    max_attempts: int = Field(15, description="Tries in all before a delivery is given up (marked failed).")
    give_up_after_h: float = Field(24.0, description="Deliveries older than this are given up.")


class DigestSettings(BaseModel):
    """The daily or weekly digest (``sinoscope digest``; a scheduled deployment under ``serve`` when it
    has somewhere to go). SMTP credentials come from the environment (SINOSCOPE_DIGEST__SMTP_PASSWORD)."""

    period: Literal["day", "week"] = "day"
    entities: list[str] = Field(
        default_factory=list,
        description="Cities and brands (ids or aliases) whose stories the digest lists; default: the period's "
        "three most mentioned cities and three most mentioned brands.",
    )
    webhooks: list[str | dict[str, str]] | None = Field(
        None, description="Webhook targets of the digest (URL, 'slack+URL' or {url, format}); default: alerts.webhooks."
    )
    email_to: list[str] = Field(default_factory=list, description="Recipients of the digest by email.")
    email_from: str = "sinoscope@localhost"
    smtp_host: str | None = Field(None, description="SMTP server; no email is sent without one.")
    smtp_port: int = 587
    smtp_tls: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (port 587), ssl (implicit TLS, port 465) or none (a relay on localhost)."
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(None, description="From SINOSCOPE_DIGEST__SMTP_PASSWORD, never a file.")
    smtp_timeout_s: float = 30.0
    smtp_attempts: int = Field(3, description="Tries per digest email (2 s, then 4 s between them).")
    schedule: str = Field(
        "0 7 * * *", description="Under serve: when the digest goes out (cron, UTC); weekly digests: e.g. '0 7 * * 1'."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINOSCOPE_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: platformdirs.user_data_path("sinoscope"),
        description="All embedded state: bus, store, feed state.",
    )
    ingest: IngestSettings = IngestSettings()
    nlp: NlpSettings = NlpSettings()
    sink: SinkSettings = SinkSettings()
    bus: BusSettings = BusSettings()
    alerts: AlertSettings = AlertSettings()
    digest: DigestSettings = DigestSettings()
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key for webhook signatures: SINOSCOPE_WEBHOOK_SECRET, never a file."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_file = _CONFIG_FILE.get("path")
        if yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    def path(self, name: str) -> Path:
        """A file inside the data directory (created on first use)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir / name


_CONFIG_FILE: dict[str, Path | None] = {"path": None}


class ConfigError(SinoscopeError, ValueError):
    """A settings file or value that cannot be used; the message says which and why."""


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` (e.g. from CLI flags) win over everything else."""
    config = config or (Path(os.environ["SINOSCOPE_CONFIG"]) if os.environ.get("SINOSCOPE_CONFIG") else None)
    if config is not None and not config.is_file():
        raise ConfigError(f"config file {config} does not exist")
    _CONFIG_FILE["path"] = config
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:  # pydantic ValidationError, YAML errors
        where = f"config file {config}" if config else "SINOSCOPE_* environment"
        raise ConfigError(f"invalid settings ({where}): {exc}") from exc
    finally:
        _CONFIG_FILE["path"] = None

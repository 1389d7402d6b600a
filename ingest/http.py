"""HTTP (and file://) fetching with the limits a polite, robust feed reader needs.

feedparser and trafilatura have no timeouts or size limits of their own, so every byte comes
through here first: per-request timeout plus a whole-request deadline (a server that trickles
bytes), a size cap checked while streaming, a redirect limit, conditional GET headers, a
User-Agent naming the project, and a minimum gap between requests to one host. Every request
passes the fetch guard (``guard``): no local files outside a file:// source's folder, no
connection to an address that is not public.
"""

from __future__ import annotations

import email.utils
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from sinoscope.core.errors import SinoscopeError
from sinoscope.core.settings import IngestSettings

from .guard import AddressGuard, Blocked, GuardedTransport, Resolver, file_allowed


class FetchError(SinoscopeError):
    """A fetch that produced no usable response; ``kind`` is a short machine-readable tag."""

    def __init__(self, kind: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s


@dataclass
class Response:
    url: str  # final URL after redirects
    status: int
    headers: dict[str, str]
    body: bytes
    permanent_redirect: str | None = None  # where a 301/308 said the resource now lives
    history: list[int] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class HostThrottle:
    """At most one request per ``interval_s`` to each host (or the host's own interval in
    ``per_host``, e.g. GDELT's five seconds), shared across worker threads."""

    def __init__(self, interval_s: float, per_host: dict[str, float] | None = None) -> None:
        self.interval_s = interval_s
        self.per_host = {h.lower(): v for h, v in (per_host or {}).items()}
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        interval = max(self.interval_s, self.per_host.get(host.lower(), 0.0))
        if interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, 0.0))
            self._next[host] = slot + interval
        if slot > now:
            time.sleep(slot - now)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


class Fetcher:
    """Fetches for feeds; ``resolver`` replaces the system's DNS (tests of rebinding)."""

    def __init__(self, settings: IngestSettings, resolver: Resolver | None = None) -> None:
        self.settings = settings
        self.throttle = HostThrottle(settings.per_host_interval_s, settings.host_intervals_s)
        guard = AddressGuard(settings.private_network_allowlist, resolver)
        self.client = httpx.Client(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=True,
            max_redirects=settings.max_redirects,
            transport=GuardedTransport(guard),
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def get(
        self,
        url: str,
        *,
        max_bytes: int,
        accept: str = "*/*",
        etag: str | None = None,
        last_modified: str | None = None,
        file_scope: Path | None = None,
    ) -> Response:
        """Fetch ``url``. HTTP error statuses are returned, not raised (callers decide);
        transport failures, oversize bodies, redirect loops and what the guard refuses
        (kind ``blocked``) raise FetchError. ``file_scope``: the folder a file:// URL may
        be read from (``guard.file_scope`` of the source), None for none."""
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            try:
                return _read_file(file_allowed(url, file_scope), url, max_bytes)
            except Blocked as exc:
                raise FetchError("blocked", str(exc)) from None
        if scheme not in ("http", "https"):
            raise FetchError("blocked", f"blocked: only http(s) is fetched, not {scheme or 'a relative'!r} URL {url}")
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        self.throttle.wait(urlsplit(url).netloc.lower())
        deadline = time.monotonic() + self.settings.deadline_s
        try:
            with self.client.stream("GET", url, headers=headers) as resp:
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError("too-large", f"{url}: Content-Length {declared} exceeds limit {max_bytes} bytes")
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError("too-large", f"{url}: body exceeds limit {max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise FetchError(
                            "timeout", f"{url}: no complete response within {self.settings.deadline_s:.0f}s"
                        )
                    chunks.append(chunk)
                # only a chain of permanent redirects means "the feed has moved"
                permanent = bool(resp.history) and all(h.status_code in (301, 308) for h in resp.history)
                moved = str(resp.url) if permanent else None
                return Response(
                    url=str(resp.url),
                    status=resp.status_code,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    body=b"".join(chunks),
                    permanent_redirect=moved,
                    history=[h.status_code for h in resp.history],
                )
        except Blocked as exc:
            raise FetchError("blocked", str(exc)) from None
        except httpx.UnsupportedProtocol as exc:  # a redirect to file:, ftp:, ...
            raise FetchError("blocked", f"blocked: a redirect left http(s) ({exc})") from None
        except httpx.TooManyRedirects as exc:
            raise FetchError(
                "redirect-loop", f"{url}: more than {self.settings.max_redirects} redirects ({exc})"
            ) from exc
        except httpx.TimeoutException as exc:
            raise FetchError(
                "timeout", f"{url}: timed out after {self.settings.timeout_s:.0f}s ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise FetchError("network", f"{url}: {type(exc).__name__}: {exc}") from exc


def _read_file(path: Path, url: str, max_bytes: int) -> Response:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FetchError("too-large", f"{path}: {size} bytes exceeds limit {max_bytes} bytes")
        body = path.read_bytes()
    except FileNotFoundError:
        return Response(url=url, status=404, headers={}, body=b"")
    except OSError as exc:
        raise FetchError("io", f"{path}: {exc}") from exc
    suffix = path.suffix.lower()
    ctype = {
        ".xml": "application/xml",
        ".rss": "application/rss+xml",
        ".atom": "application/atom+xml",
        ".html": "text/html",
        ".htm": "text/html",
    }.get(suffix, "")
    return Response(url=url, status=200, headers={"content-type": ctype} if ctype else {}, body=body)

"""The fetch guard against a hostile feed, with real local servers (loopback only).

A "remote" feed is served on 127.0.0.2, the one address the tests allow-list; an "internal
service" listens on 127.0.0.1 (and ::1) and must never be asked anything, whatever spelling or
redirect a feed uses to point at it; a local file must never be read unless the source itself is
a file:// feed and the file lies in its folder. Every entry is still published, with its summary
and the reason its page was not fetched."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import src
from pytest_httpserver import HTTPServer
from werkzeug import Response

from ingest.guard import AddressGuard, Blocked, non_public
from ingest.http import Fetcher, FetchError
from sinoscope.core.settings import load_settings

pytestmark = pytest.mark.integration

SECRET = "INTERNAL-SERVICE-SECRET"
FILE_SECRET = "LOCAL-FILE-SECRET"
FEED_HOST = "127.0.0.2"
ALLOW = [ipaddress.ip_network(f"{FEED_HOST}/32")]  # exactly the feed server's address


def start(host: str, port: int = 0) -> HTTPServer:
    server = HTTPServer(host=host, port=port, threaded=True)
    server.start()
    return server


@pytest.fixture
def remote():
    """The allow-listed "remote" feed server."""
    server = start(FEED_HOST)
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def internal():
    """Internal services on 127.0.0.1 and ::1 that answer with a secret to anyone who asks."""
    servers = {"v4": start("127.0.0.1")}
    try:
        servers["v6"] = start("::1")
    except OSError:  # no IPv6 loopback: the [::1] link is then refused by the guard alone
        pass
    for s in servers.values():
        s.expect_request("/internal").respond_with_data(
            f"<html><body><p>{SECRET} " + "x " * 200 + "</p></body></html>", content_type="text/html"
        )
    yield servers
    for s in servers.values():
        s.clear()
        s.stop()


def guarded_settings(settings):
    return settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"private_network_allowlist": ALLOW})}
    )


def rss(base: str, links: list[str]) -> str:
    items = "".join(
        f"<item><title>Entry {i}</title><link>{link}</link><guid>g{i}</guid>"
        f"<description>Summary {i}: BYD opens a plant in Chengdu.</description></item>"
        for i, link in enumerate(links)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Remote</title><link>{base}</link>'
        f"<description>d</description>{items}</channel></rss>"
    )


def test_a_hostile_remote_feed_reaches_no_internal_service_and_no_file(remote, internal, ingest, tmp_path):
    secret_file = tmp_path / "secret.html"
    secret_file.write_text(f"<html><body><p>{FILE_SECRET} " + "y " * 200 + "</p></body></html>")
    port = internal["v4"].port
    v6 = internal["v6"].port if "v6" in internal else port
    links = {
        "file": secret_file.as_uri(),
        "127.0.0.1": f"http://127.0.0.1:{port}/internal",
        "localhost": f"http://localhost:{port}/internal",
        "127.1": f"http://127.1:{port}/internal",
        "2130706433": f"http://2130706433:{port}/internal",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/internal",
        "::1": f"http://[::1]:{v6}/internal",
        "redirect": remote.url_for("/moved"),
        "redirect-to-file": remote.url_for("/to-file"),
        "metadata": "http://169.254.169.254/latest/meta-data/",
    }
    remote.expect_request("/moved").respond_with_response(
        Response(status=302, headers={"Location": f"http://127.0.0.1:{port}/internal"})
    )
    remote.expect_request("/to-file").respond_with_response(
        Response(status=302, headers={"Location": secret_file.as_uri()})
    )
    base = remote.url_for("").rstrip("/")
    remote.expect_request("/feed").respond_with_data(
        rss(base, list(links.values())), content_type="application/rss+xml"
    )
    summary, articles = ingest([src("remote", remote.url_for("/feed"))], private_network_allowlist=ALLOW)

    # nothing was asked of the internal services, nothing of theirs or of the file was published
    for server in internal.values():
        assert server.log == [], "an internal service received a request"
    published = json.dumps(articles)
    assert SECRET not in published and FILE_SECRET not in published
    # every entry is published with its feed summary, and says why its page was not fetched
    assert summary.errors == [] and summary.dead_lettered == 0
    assert len(articles) == len(links)
    by_title = {a["title"]: a for a in articles}
    reasons = {}
    for i, name in enumerate(links):
        art = by_title[f"Entry {i}"]
        assert art["text"] == f"Summary {i}: BYD opens a plant in Chengdu."
        notes = [n for n in art["notes"] if n.startswith("page not fetched: blocked: ")]
        assert notes, f"{name}: no recorded reason in {art['notes']}"
        reasons[name] = notes[0]
    assert "resolves to a loopback address 127.0.0.1" in reasons["127.0.0.1"]
    assert "resolves to a loopback address" in reasons["localhost"]
    assert "resolves to a loopback address 127.0.0.1" in reasons["127.1"]
    assert "resolves to a loopback address 127.0.0.1" in reasons["2130706433"]
    assert "resolves to a loopback address ::ffff:7f00:1 (IPv4 127.0.0.1)" in reasons["mapped"]
    assert "resolves to a loopback address ::1" in reasons["::1"]
    assert "resolves to a loopback address 127.0.0.1" in reasons["redirect"]
    assert "a redirect left http(s)" in reasons["redirect-to-file"]
    assert "resolves to a link-local address 169.254.169.254" in reasons["metadata"]
    assert "followed only from a source listed as file://" in reasons["file"]
    # the IPv6 literal links are valid URLs, kept as such (not dead-lettered as unusable)
    assert by_title["Entry 5"]["url"] == f"https://[::ffff:7f00:1]:{port}/internal"
    # the run summary names each refused link with its reason
    assert len(summary.blocked) == len(links)
    assert all(name == "remote" and ": blocked: " in why for name, why in summary.blocked)
    # the allowed redirect hop itself was requested: the guard refused the next hop, not the host
    assert {r.path for r, _ in remote.log} >= {"/feed", "/moved", "/to-file"}


def test_the_allowlist_lets_exactly_its_cidrs_through(remote, internal, ingest, settings):
    page = f"<html><body><article><p>{'Chengdu welcomes a new BYD plant. ' * 20}</p></article></body></html>"
    remote.expect_request("/page").respond_with_data(page, content_type="text/html")
    remote.expect_request("/feed").respond_with_data(
        rss(
            remote.url_for("").rstrip("/"),
            [remote.url_for("/page"), f"http://127.0.0.1:{internal['v4'].port}/internal"],
        ),
        content_type="application/rss+xml",
    )
    summary, articles = ingest([src("remote", remote.url_for("/feed"))], private_network_allowlist=ALLOW)
    texts = {a["title"]: a["text"] for a in articles}
    assert "Chengdu welcomes a new BYD plant." in texts["Entry 0"]  # 127.0.0.2 is allowed: page fetched
    assert SECRET not in texts["Entry 1"] and internal["v4"].log == []  # 127.0.0.1 is not
    assert len(summary.blocked) == 1

    guard = AddressGuard(["10.20.0.0/16", "127.0.0.2/32"])
    assert guard.refusal(ipaddress.ip_address("10.20.255.1")) is None
    assert guard.refusal(ipaddress.ip_address("10.21.0.1")) == "resolves to a private address 10.21.0.1"
    assert guard.refusal(ipaddress.ip_address("127.0.0.3")) == "resolves to a loopback address 127.0.0.3"
    assert guard.refusal(ipaddress.ip_address("::ffff:127.0.0.2")) is None  # the same address, IPv6-mapped


def test_a_feed_on_a_private_address_is_a_clear_error_without_an_allowlist(remote, ingest):
    remote.expect_request("/feed").respond_with_data(
        rss("http://x", ["http://example.com/a"]), content_type="application/rss+xml"
    )
    summary, articles = ingest([src("intranet", remote.url_for("/feed"))], private_network_allowlist=[])
    assert articles == [] and remote.log == []
    [(name, message)] = summary.errors
    assert name == "intranet" and message == f"blocked: resolves to a loopback address {FEED_HOST}"


class Rebinding:
    """A resolver whose answer changes after the first question (DNS rebinding)."""

    def __init__(self, first: list[str], later: list[str]) -> None:
        self.first, self.later, self.calls = first, later, 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return self.first if self.calls == 1 else self.later


def test_rebinding_cannot_slip_a_second_lookup_between_check_and_connect(settings):
    """The allowed answer is the address connected to (one lookup per connection); a later
    connection that resolves to the internal address is refused."""
    feed, inner = start(FEED_HOST), None
    try:
        inner = start("127.0.0.1", feed.port)  # same port on the internal address
    except OSError:
        feed.stop()
        pytest.skip(f"port {feed.port} is taken on 127.0.0.1; the rebinding test needs it on both addresses")
    try:
        for s in (feed, inner):
            s.expect_request("/x").respond_with_data("ok", headers={"Connection": "close"})
        resolver = Rebinding([FEED_HOST], ["127.0.0.1"])
        fetcher = Fetcher(guarded_settings(settings).ingest, resolver=resolver)
        try:
            url = f"http://rebind.example:{feed.port}/x"
            assert fetcher.get(url, max_bytes=1000).status == 200
            assert resolver.calls == 1 and len(feed.log) == 1 and inner.log == []
            with pytest.raises(FetchError) as err:
                fetcher.get(url, max_bytes=1000)
            assert err.value.kind == "blocked" and str(err.value) == "blocked: resolves to a loopback address 127.0.0.1"
            assert inner.log == []
        finally:
            fetcher.close()
    finally:
        for s in (feed, inner):
            s.clear()
            s.stop()


def test_a_mixed_answer_connects_only_to_its_public_addresses():
    guard = AddressGuard(
        resolver=lambda host, port: ["93.184.215.14", "10.0.0.7", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    )
    assert guard.vet("mixed.example", 80) == ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    with pytest.raises(Blocked, match="resolves to a private address 10.0.0.7"):
        AddressGuard(resolver=lambda host, port: ["10.0.0.7", "192.168.1.1"]).vet("inside.example", 80)


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.0.1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("fd12:3456::1", "a private address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("::127.0.0.1", "a loopback address"),
        ("64:ff9b::7f00:1", "a loopback address"),
        ("2002:a00:1::", "a private address"),
        ("192.0.2.10", "a private address"),
        ("240.0.0.1", "a private address"),
    ],
)
def test_addresses_that_are_not_public_are_refused(address, kind):
    assert non_public(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert non_public(ipaddress.ip_address(address)) is None


def test_a_file_feed_reads_only_inside_its_folder(tmp_path, ingest):
    feeds = tmp_path / "corpus" / "feeds"
    (feeds / "pages").mkdir(parents=True)
    body = (
        "<html><body><article><p>" + "Shenzhen's drone makers expand overseas. " * 20 + "</p></article></body></html>"
    )
    (feeds / "pages" / "inside.html").write_text(body)
    for n in range(4):
        (tmp_path / "corpus" / f"outside{n}.html").write_text(
            f"<html><body><p>{FILE_SECRET} " + "z " * 200 + "</p></body></html>"
        )
    (feeds / "pages" / "link.html").symlink_to(tmp_path / "corpus" / "outside0.html")
    links = [
        "pages/inside.html",
        "pages/link.html",
        "../outside1.html",
        (tmp_path / "corpus" / "outside2.html").as_uri(),
        "pages/../../outside3.html",
    ]
    (feeds / "local.rss").write_text(rss(feeds.as_uri(), links))
    summary, articles = ingest([src("local", (feeds / "local.rss").as_uri())])
    by_title = {a["title"]: a for a in articles}
    assert "drone makers expand overseas" in by_title["Entry 0"]["text"]
    assert FILE_SECRET not in json.dumps(articles) and len(articles) == len(links)
    assert len(summary.blocked) == len(links) - 1
    assert all("is outside the feed's folder" in why for _, why in summary.blocked)


def test_the_allowlist_comes_from_the_environment():
    env = {**os.environ, "SINOSCOPE_INGEST__PRIVATE_NETWORK_ALLOWLIST": '["127.0.0.2/32", "10.20.0.0/16"]'}
    code = (
        "from sinoscope.core.settings import load_settings; "
        "print([str(n) for n in load_settings().ingest.private_network_allowlist])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['127.0.0.2/32', '10.20.0.0/16']"
    assert load_settings().ingest.private_network_allowlist == []  # default: nothing private is fetched
    bad = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "SINOSCOPE_INGEST__PRIVATE_NETWORK_ALLOWLIST": '["10.0.0.1/8"]'},
    )
    assert bad.returncode != 0 and "not a valid IPv4 or IPv6 network" in bad.stderr


def test_environment_proxies_cannot_route_around_the_guard(remote, internal, settings, monkeypatch):
    """With HTTP_PROXY pointing at the internal service, a fetch still goes (guarded) to the host."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{internal['v4'].port}")
    remote.expect_request("/x").respond_with_data("direct")
    fetcher = Fetcher(guarded_settings(settings).ingest)
    try:
        assert fetcher.get(remote.url_for("/x"), max_bytes=100).body == b"direct"
    finally:
        fetcher.close()
    assert internal["v4"].log == []


def test_sample_corpus_pages_are_inside_the_feeds_folder():
    """The bundled file:// corpus links its pages inside its feeds' folder, so the guard reads them."""
    feeds = Path(__file__).parents[1] / "ingest" / "samples" / "feeds"
    assert (feeds / "pages" / "popmart-aeon.html").is_file()
    assert 'href="pages/popmart-aeon.html"' in (feeds / "pages.atom").read_text()

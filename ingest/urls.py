"""Canonical article URLs: one story, one URL, one id.

The same article reaches us with tracking parameters (utm_*, fbclid, ...), fragments, http vs
https, AMP variants (amp. hosts, /amp paths, ?amp, Google's AMP cache) and default ports.
w3lib (Scrapy's URL toolkit) does the RFC-level normalisation; the news-specific rules are here.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

TRACKING_PARAMS = {
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "mkt_tok",
    "_ga",
    "_gl",
    "ocid",
    "cmpid",
    "cmp",
    "ns_mchannel",
    "ns_source",
    "ns_campaign",
    "ns_linkname",
    "ns_fee",
    "at_medium",
    "at_campaign",
    "at_custom1",
    "at_custom2",
    "at_custom3",
    "at_custom4",
    "smid",
    "smtyp",
    "ref",
    "ref_src",
    "ref_url",
    "referrer",
    "rss",
    "rssfeed",
    "feed",
    "partner",
    "spm",
    "share",
    "s_cid",
    "wt.mc_id",
    "taid",
    "guccounter",
    "guce_referrer",
    "sr_share",
    "ito",
    "xtor",
    "from",
    "source",
    "amp",
    "outputtype",
    "pk_campaign",
    "pk_kwd",
    "piano_campaign",
    "traffic_source",
    "int_source",
    "int_medium",
    "int_campaign",
    "cmp_id",
    "emc",
    "__twitter_impression",
    "soc_src",
    "soc_trk",
    "tpcc",
}
TRACKING_PREFIXES = ("utm_", "itm_", "pk_", "mtm_", "at_", "ns_", "sc_", "hsa_", "oly_")
_AMP_CACHE = re.compile(r"^[a-z0-9-]+\.cdn\.ampproject\.org$")
_AMP_PATH_SUFFIX = re.compile(r"(/amp/?|\.amp|\.amp\.html|/amp\.html)$", re.I)


def _is_tracking(name: str) -> bool:
    n = name.lower()
    return n in TRACKING_PARAMS or n.startswith(TRACKING_PREFIXES)


def repair_file_url(url: str) -> str:
    """feedparser turns a base of ``file:///a/b`` into ``file://a/b`` when it resolves
    relative links; put the empty host back so the path is absolute again."""
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        return urlunsplit(("file", "", f"/{parts.netloc}{parts.path}", parts.query, ""))
    return url


def canonical_url(url: str) -> str:
    """A normalised URL for identity and dedup; raises ValueError for non-web URLs."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if scheme in ("file", "urn"):
            return url  # sample corpus / synthesised ids stay as they are
        raise ValueError(f"not a web URL: {url!r}")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise ValueError(f"URL without host: {url!r}")
    path = parts.path or "/"

    # Google AMP cache: https://www-bbc-com.cdn.ampproject.org/c/s/www.bbc.com/news/x
    if _AMP_CACHE.match(host):
        m = re.match(r"^/(?:[a-z]/)*(?:s/)?([^/]+)(/.*)?$", path)
        if m:
            host, path = m.group(1).lower(), m.group(2) or "/"
    # amp./m./www. variants of one site are one site (the apex redirects on news sites)
    host = re.sub(r"^(?:(?:amp|m|mobile|www)\.)+(?=[^.]+\.[^.]+)", "", host)
    path = re.sub(r"/amp(?=/)", "", path, flags=re.I)  # a path segment that is just "amp"
    path = _AMP_PATH_SUFFIX.sub("", path) or "/"

    port = parts.port
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)])
    if len(path) > 1:
        path = path.rstrip("/")
    rebuilt = urlunsplit(("https", netloc, path, query, ""))
    return canonicalize_url(rebuilt, keep_fragments=False)

"""Kibana saved objects: valid JSON whose references resolve and whose fields exist in the
Elasticsearch mappings; and `sinoscope kibana setup` posting them to Kibana's import API. No
Kibana can run here: the API is a local stand-in (pytest-httpserver) that checks the request
the way Kibana does (multipart file, kbn-xsrf header, overwrite) and answers like it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from werkzeug import Response

from sinks.elastic.alerts import ALERT_MAPPING
from sinks.elastic.store import ARTICLE_MAPPING, MENTION_MAPPING
from sinks.kibana import load_objects


def _flat(props: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in props.items():
        out |= _flat(v["properties"], f"{prefix}{k}.") if "properties" in v else {prefix + k}
    return out


FIELDS = {
    "sinoscope-mentions": set(MENTION_MAPPING["properties"]),
    "sinoscope-articles": set(ARTICLE_MAPPING["properties"]),
    "sinoscope-alerts": _flat(ALERT_MAPPING["properties"]),
}


def test_saved_objects_reference_real_objects_and_mapped_fields():
    objs = load_objects()
    by_id = {(o["type"], o["id"]): o for o in objs}
    assert {o["type"] for o in objs} == {"index-pattern", "visualization", "search", "dashboard"}
    for o in objs:
        for ref in o.get("references", []):
            assert (ref["type"], ref["id"]) in by_id, f"{o['id']} references missing {ref}"
        index = next((r["id"] for r in o.get("references", []) if r["type"] == "index-pattern"), None)
        fields = FIELDS.get(index, set())
        if o["type"] == "index-pattern":
            assert o["attributes"]["timeFieldName"] in FIELDS[o["id"]]
        if o["type"] == "visualization":
            state = json.loads(o["attributes"]["visState"])
            used = {a["params"]["field"] for a in state["aggs"] if "field" in a.get("params", {})}
            assert used and used <= fields, (o["id"], used - fields)
        if o["type"] == "search":
            assert set(o["attributes"]["columns"]) <= fields and {s[0] for s in o["attributes"]["sort"]} <= fields
        if o["type"] in ("visualization", "search"):
            q = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
            assert set(re.findall(r"(\w+)\s*:", q)) <= fields
    dash = by_id[("dashboard", "sinoscope-overview")]
    panels = json.loads(dash["attributes"]["panelsJSON"])
    assert len(panels) == 7 and {p["panelRefName"] for p in panels} == {r["name"] for r in dash["references"]}


def test_kibana_setup_imports_through_the_saved_objects_api(httpserver, tmp_path):
    seen = {}

    def kibana(request):
        seen["xsrf"] = request.headers.get("kbn-xsrf")
        seen["overwrite"] = request.args.get("overwrite")
        body = request.files["file"].read().decode()
        seen["objects"] = [json.loads(x) for x in body.splitlines() if x.strip()]
        return Response(
            json.dumps({"success": True, "successCount": len(seen["objects"])}), content_type="application/json"
        )

    httpserver.expect_request("/api/saved_objects/_import", method="POST").respond_with_handler(kibana)
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "sinoscope"),
            "--data-dir",
            str(tmp_path),
            "kibana",
            "setup",
            "--url",
            httpserver.url_for("/"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr
    assert seen["xsrf"] and seen["overwrite"] == "true" and len(seen["objects"]) == len(load_objects())
    assert "imported 11 saved objects" in out.stdout


def test_kibana_refusals_are_a_clear_error(httpserver, tmp_path):
    httpserver.expect_request("/api/saved_objects/_import", method="POST").respond_with_json(
        {
            "success": False,
            "successCount": 8,
            "errors": [{"type": "dashboard", "id": "sinoscope-overview", "error": {"type": "missing_references"}}],
        }
    )
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "sinoscope"),
            "--data-dir",
            str(tmp_path),
            "kibana",
            "setup",
            "--url",
            httpserver.url_for("/"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 1
    assert "refused some" in out.stderr and "sinoscope-overview" in out.stderr

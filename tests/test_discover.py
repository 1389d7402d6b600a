"""`sinoscope nlp discover`: Chinese companies the catalogue does not know, from the stored coverage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alerting import store
from records import enriched

from nlp.discover import Discoverer
from nlp.entities.catalogue import load_catalogue
from sinoscope.core.settings import load_settings

SINOSCOPE = str(Path(sys.executable).parent / "sinoscope")


@pytest.fixture(scope="module")
def discoverer():
    return Discoverer(load_catalogue())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Chinese carmaker Dayun Auto plans to list in New York.", ["Dayun Auto"]),
        ("Guoquan, a Shanghai-based hotpot chain, opened in Sydney.", ["Guoquan"]),
        ("Changzhou Shenrong Metal Technology was fined for dumping.", ["Changzhou Shenrong Metal Technology"]),
        ("Chinese carmaker BYD and Hong Kong-listed Geely gained.", []),  # catalogued
        ("Madhav Sheth, a key executive at Chinese phone maker Honor, left.", []),  # a person
        ("The Instituto Butantan, the São Paulo-based research centre, said.", []),  # not a Chinese place
        ("Beijing Hyundai Motor Company cut prices.", []),  # a foreign carmaker's JV
        ("Chinese media group Hubei Media Group reported it.", []),  # media
    ],
)
def test_what_counts_as_an_unknown_chinese_company(discoverer, text, expected):
    assert [name for name, _, _ in discoverer.candidates(text)] == expected


@pytest.mark.slow
def test_discover_lists_counts_outlets_examples_and_a_catalogue_line(tmp_path):
    now = datetime.now(UTC)
    settings = load_settings(data_dir=tmp_path / "d")
    titles = [
        "Chinese bus maker Zhongxing Coach wins a Chilean order",
        "Zhongxing Coach, a Wuhan-based firm, expands",
        "BYD opens a plant in Hungary",
        "Chinese carmaker Dayun Auto delays its listing",
    ]
    store(
        settings,
        [
            enriched(
                f"a{i}", now - timedelta(days=1, hours=i), [("city:chengdu", 0.1)], title=t, outlet=f"Outlet {i % 2}"
            )
            for i, t in enumerate(titles)
        ],
    )
    out = subprocess.run(
        [SINOSCOPE, "--data-dir", str(tmp_path / "d"), "nlp", "discover", "--since", "7d", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr
    found = {c["name"]: c for c in json.loads(out.stdout)["candidates"]}
    assert set(found) == {"Zhongxing Coach", "Dayun Auto"}
    z = found["Zhongxing Coach"]
    assert z["count"] == 2 and z["outlets"] == ["Outlet 0", "Outlet 1"] and len(z["examples"]) == 2
    assert z["catalogue_line"].startswith(
        "- {id: brand:zhongxing-coach, name: Zhongxing Coach, aliases: [Zhongxing Coach]"
    )
    text = subprocess.run(
        [SINOSCOPE, "--data-dir", str(tmp_path / "d"), "nlp", "discover"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert text.returncode == 0 and "Zhongxing Coach" in text.stdout and "nlp.catalogues" in text.stdout


def test_the_catalogue_line_is_valid_yaml_whatever_the_name():
    import yaml

    from nlp.discover import Candidate

    for name in ("Zhongxing Coach", "Lynk: The Sequel", "A&B Holdings"):
        [row] = yaml.safe_load(
            Candidate(name, evidence="named as Chinese", home="city:wuhan").as_dict()["catalogue_line"]
        )
        assert row["name"] == name and row["aliases"] == [name] and row["home"] == "city:wuhan"

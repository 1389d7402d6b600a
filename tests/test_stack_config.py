"""The stack is closed by default: docker-compose.yml publishes ports on loopback only (Kafka
not at all), keeps Elasticsearch's and Prefect's security on, and holds no secret; the image runs
CPU-only torch as an unprivileged user. No Docker engine runs here, so the files are read and
checked as Compose and Docker would read them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH_STRING|API_KEY|WEBHOOKS|CREDENTIAL", re.I)
LOOPBACK = ("127.0.0.1", "::1", "[::1]", "localhost")
# ${VAR}, ${VAR:?message} or ${VAR:-} (empty default): the value comes from the environment
FROM_ENV = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(?::\?[^}]*|:-(?:\[\])?)?\}$")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def published(port) -> tuple[str | None, str]:
    """(host address or None when on every interface, the port spec) of one `ports` entry."""
    if isinstance(port, dict):
        return port.get("host_ip"), str(port.get("published", ""))
    spec = str(port).split("/")[0]
    m = re.match(r"^(\[[^\]]+\]|[^:]+):(\d[\d-]*):(\d[\d-]*)$", spec)
    return (m.group(1), spec) if m else (None, spec)


def problems(doc: dict) -> list[str]:
    out = []
    for name, svc in doc["services"].items():
        for port in svc.get("ports") or []:
            host, spec = published(port)
            if host is None or host.strip("[]") not in [h.strip("[]") for h in LOOPBACK]:
                out.append(f"{name}: port {spec} is published on every interface")
        env = environment(svc)
        for key, value in env.items():
            if SECRET_KEY.search(key) and not FROM_ENV.match(value):
                out.append(f"{name}: {key} is written in the file")
            if (
                key.lower().startswith("xpack.security")
                and key.lower().endswith(".enabled")
                and key.lower() != "xpack.security.http.ssl.enabled"
                and value.lower() != "true"
            ):
                out.append(f"{name}: {key} switches security off")
        if (
            "elasticsearch" in str(svc.get("image", ""))
            and name == "elasticsearch"
            and env.get("xpack.security.enabled", "").lower() != "true"
        ):
            out.append(f"{name}: security is not switched on")
        text = yaml.safe_dump({k: v for k, v in svc.items() if k != "environment"})
        if re.search(r"-u\s+\\?[\"']?\w+:(?!\$\$\{)", text):
            out.append(f"{name}: a credential is written in a command")
    for anchor in ("x-sinoscope-env",):
        for key, value in (doc.get(anchor) or {}).items():
            if SECRET_KEY.search(key) and not FROM_ENV.match(str(value)):
                out.append(f"{anchor}: {key} is written in the file")
    return out


def test_the_shipped_stack_is_closed_by_default():
    doc = compose()
    assert problems(doc) == []
    svc = doc["services"]
    assert "ports" not in svc["kafka"]
    assert environment(svc["prefect-server"])["PREFECT_SERVER_API_AUTH_STRING"].startswith("${PREFECT_AUTH_STRING")
    for name in ("scheduler", "enrich", "sink", "kibana-setup"):  # the Prefect clients and the Elasticsearch users
        env = environment(svc[name])
        assert env["PREFECT_API_AUTH_STRING"].startswith("${PREFECT_AUTH_STRING"), name
        assert env["SINOSCOPE_SINK__ES_PASSWORD"].startswith("${ELASTIC_PASSWORD"), name
        assert env["SINOSCOPE_SINK__ES_USERNAME"] == "elastic", name
    kibana = environment(svc["kibana"])
    assert kibana["ELASTICSEARCH_USERNAME"] == "kibana_system" and kibana["ELASTICSEARCH_PASSWORD"].startswith("${")


@pytest.mark.parametrize(
    "change, complaint",
    [
        (lambda d: d["services"]["elasticsearch"].update(ports=["9200:9200"]), "published on every interface"),
        (
            lambda d: d["services"]["kafka"].update(ports=[{"target": 9092, "published": 9092}]),
            "published on every interface",
        ),
        (lambda d: d["services"]["kibana"].update(ports=["0.0.0.0:5601:5601"]), "published on every interface"),
        (
            lambda d: d["services"]["elasticsearch"]["environment"].update({"xpack.security.enabled": "false"}),
            "switches security off",
        ),
        (
            lambda d: d["services"]["elasticsearch"]["environment"].update({"ELASTIC_PASSWORD": "changeme"}),
            "ELASTIC_PASSWORD is written in the file",
        ),
        (
            lambda d: d["x-sinoscope-env"].update({"SINOSCOPE_WEBHOOK_SECRET": "${SINOSCOPE_WEBHOOK_SECRET:-s3cret}"}),
            "SINOSCOPE_WEBHOOK_SECRET is written in the file",
        ),
        (
            lambda d: d["services"]["elasticsearch"]["healthcheck"].update(
                test=["CMD-SHELL", "curl -u elastic:changeme x"]
            ),
            "a credential is written in a command",
        ),
    ],
)
def test_the_check_catches_an_opened_stack(change, complaint):
    doc = compose()
    change(doc)
    assert any(complaint in p for p in problems(doc)), problems(doc)


def test_the_image_runs_cpu_torch_as_an_unprivileged_user():
    lines = [
        ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    torch = next(i for i, ln in enumerate(lines) if "torch==" in ln)
    project = next(i for i, ln in enumerate(lines) if re.search(r"pip install .*-e \.", ln))
    assert torch < project, "torch must be installed before the project pulls in the default (CUDA) build"
    assert "--index-url" in lines[torch] and any(re.search(r"ARG TORCH_INDEX=\S+/whl/cpu$", ln) for ln in lines)
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the services must not run as root"
    assert lines.index(next(ln for ln in lines if ln.startswith("USER "))) < lines.index(
        next(ln for ln in lines if ln.startswith("ENTRYPOINT"))
    )

"""The docs match the code: every `sinoscope ...` command written in the README and docs/ exists
with the options it is shown with, every link to a file in the repository resolves, and the
README stays a README (at most 250 lines)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from sinoscope.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def commands(path: Path) -> list[str]:
    """`sinoscope ...` lines inside the file's fenced code blocks (comments dropped)."""
    out, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        m = re.search(r"(?:^|[\s|;&]|/bin/)(sinoscope\s+-{0,2}[a-z][^#]*)", line) if fenced else None
        if m:
            out.append(m.group(1).strip())
    return out


def is_group(cmd) -> bool:
    return hasattr(cmd, "list_commands")


def subcommands(cmd) -> list[str]:
    return cmd.list_commands(None)


def resolve(words: list[str]):
    """The (typer/click) command a command line names, and the words after it."""
    cmd = typer.main.get_command(app)
    rest = list(words)
    while is_group(cmd) and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(None, rest[0])
        if sub is None:
            break
        cmd, rest = sub, rest[1:]
    return cmd, rest


def option_names(cmd) -> set[str]:
    root = typer.main.get_command(app)
    names = {"--help"}
    for c in (root, cmd):
        for p in c.params:
            names.update(getattr(p, "opts", []))
            names.update(getattr(p, "secondary_opts", []))
    return names


CASES = [(p.relative_to(ROOT).as_posix(), c) for p in DOCS for c in commands(p)]


def test_the_docs_show_commands():
    assert len(CASES) > 20 and any(p == "README.md" for p, _ in CASES)


@pytest.mark.parametrize("where, line", CASES)
def test_every_documented_command_exists_with_its_options(where, line):
    words = shlex.split(line.replace("|", " ").replace("...", ""), posix=True)[1:]
    words = [w for w in words if w not in ("/", "\\")]
    cmd, rest = resolve(words)
    if is_group(cmd):
        assert not rest or rest[0].startswith("-") or rest[0] in subcommands(cmd), f"{where}: `{line}`: no such command"
        return
    known = option_names(cmd)
    for w in rest:
        if w.startswith("--"):
            assert w.split("=")[0] in known, f"{where}: `{line}`: {cmd.name} has no option {w}"


def test_links_to_files_resolve():
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#]+)\)", path.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.name} links to {target}, which does not exist"


def test_the_readme_is_a_readme():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250

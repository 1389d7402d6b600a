"""Print the import graph between Sinoscope's layers (package level), from grimp (import-linter's
engine): every arrow should point down the layers listed in pyproject.toml. The one arrow between
stages, sinks -> nlp, is the entity catalogue, the named interface.

Usage: .venv/bin/python tools/import_graph.py
"""

from __future__ import annotations

import grimp

LAYERS = ["sinoscope.cli", "sinoscope.ui", "sinoscope.status", "flows", "ingest", "nlp", "sinks", "sinoscope.core"]


def owner(module: str) -> str | None:
    return next((t for t in LAYERS if module == t or module.startswith(t + ".")), None)


def main() -> None:
    graph = grimp.build_graph("sinoscope", "ingest", "nlp", "sinks", "flows")
    edges: dict[tuple[str, str], set[str]] = {}
    for module in graph.modules:
        a = owner(module)
        for imported in graph.find_modules_directly_imported_by(module) if a else ():
            b = owner(imported)
            if b and b != a:
                edges.setdefault((a, b), set()).add(imported)
    for (a, b), targets in sorted(edges.items(), key=lambda e: (LAYERS.index(e[0][0]), LAYERS.index(e[0][1]))):
        via = f"   (only {', '.join(sorted(targets))})" if len(targets) <= 2 else ""
        print(f"{a:17} -> {b}{via}")


if __name__ == "__main__":
    main()

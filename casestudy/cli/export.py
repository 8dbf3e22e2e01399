"""The `export` and `import` command groups (registered on the main group in cli.py).

Every export reads the publish database: by default it (re)builds the working
database's publish database first (``ensure_published``); ``--publish-db PATH`` reads
an existing one instead.
"""

from __future__ import annotations

from pathlib import Path

import click

from casestudy.cli.options import Group, coder_option, db_option
from casestudy.db import SOURCE_KINDS


def publish_db_option(function):
    return click.option(
        "--publish-db",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read this publish database instead of (re)building the working database's one.",
    )(function)


def filter_options(function):
    function = click.option("--status", type=click.Choice(["accepted", "all"]), default="all", show_default=True,
                            help="accepted: count and quote only codings a researcher accepted; all: every coding not "
                                 "rejected (accepted ones are still preferred as quotes).")(function)
    function = click.option("--wave", "waves", multiple=True, type=int, metavar="N", help="Only this wave (repeatable).")(function)
    function = click.option("--ics", "ics", multiple=True, metavar="NAME", help="Only this ICS (repeatable), as named in the study settings.")(function)
    function = click.option("--rq", "rqs", multiple=True, metavar="RQn", help="Only this research question (repeatable), e.g. RQ3.")(function)
    return function


@click.group("export", cls=Group)
def export_group():
    """Export consent-safe evidence: Word report, REFI-QDA project or codebook, CSV."""


@export_group.command("docx")
@click.argument("out", type=click.Path(path_type=Path))
@filter_options
@click.option("--page-numbers/--no-page-numbers", default=True, show_default=True,
              help="Lay the report out once with LibreOffice (if installed) to put page numbers in its contents; "
                   "without, Word fills them in when the file is opened.")
@click.option("--title", help="Report title (default: the study settings' title).")
@click.option("--subtitle", help="Report subtitle (default: the study settings').")
@click.option("--author", "authors", multiple=True, help="An author on the cover (repeatable; default: the settings').")
@click.option("--pi", help="Principal investigator on the cover (default: the settings').")
@click.option("--funder", help="Funder on the cover (default: the settings').")
@click.option("--report-status", type=click.Choice(["draft", "final"]),
              help="The report's status line and header (default: the settings' status).")
@publish_db_option
@db_option
def export_docx_cmd(out, rqs, ics, waves, status, page_numbers, title, subtitle, authors, pi, funder, report_status,
                    publish_db, db_path):
    """Write OUT.docx: the thematic summary for the PI (themes, counts, quotes, framework matrix).

    The cover, header and "About this report" describe the study from its settings
    (`casestudy study show`); --title, --pi, --author, --funder and --report-status
    override them for this report only.
    """
    from casestudy.export.word import export_docx

    cover = {"title": title, "subtitle": subtitle, "authors": authors, "pi": pi, "funder": funder, "status": report_status}
    summary = export_docx(db_path, out, rqs=rqs, ics=ics, waves=waves, status=status, publish_db=publish_db,
                          page_numbers=page_numbers, cover=cover)
    pages = f"{summary.pages} pages, " if summary.pages else ""
    click.echo(
        f"Wrote {summary.path}: {pages}{len(summary.rqs)} research questions, {summary.themes} themes, "
        f"{summary.excerpts} excerpts, {summary.quotes} quotes; {summary.withheld} coded excerpts counted but "
        "withheld from quotation (consent)."
    )


def codebook_option(function):
    return click.option(
        "--codebook", "codebook_dir", type=click.Path(file_okay=False, path_type=Path),
        help="The codebook folder the database was coded with (default: the project's codebook); its patterns, "
             "lemma overrides and settings go into the code descriptions so `import qdc` gives back the same codebook version.",
    )(function)


@export_group.command("qdpx")
@click.argument("out", type=click.Path(path_type=Path))
@codebook_option
@publish_db_option
@db_option
def export_qdpx_cmd(out, codebook_dir, publish_db, db_path):
    """Write OUT.qdpx: a REFI-QDA 1.0 project (codes, sources, coded selections, cases, memos)."""
    from casestudy.export.refi import export_qdpx

    s = export_qdpx(db_path, out, publish_db=publish_db, codebook_dir=codebook_dir)
    click.echo(
        f"Wrote {s.path}: {s.codes} codes, {s.sources} sources, {s.selections} coded selections "
        f"({s.codings} codings), {s.cases} cases, {s.notes} memos{_definitions_note(s)}."
    )


def _definitions_note(s) -> str:
    if s.definitions:
        return f"; codebook {s.definitions} carried in full (patterns and settings)"
    return "; coding patterns not included (the database was coded with another codebook: give --codebook DIR)"


@export_group.command("qdc")
@click.argument("out", type=click.Path(path_type=Path))
@codebook_option
@publish_db_option
@db_option
def export_qdc_cmd(out, codebook_dir, publish_db, db_path):
    """Write OUT.qdc: the codebook as a REFI-QDA 1.0 codebook."""
    from casestudy.export.refi import export_qdc

    s = export_qdc(db_path, out, publish_db=publish_db, codebook_dir=codebook_dir)
    click.echo(f"Wrote {s.path}: {s.codes} codes{_definitions_note(s)}.")


@export_group.command("csv")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), help="File format (default: from OUT's suffix, else csv).")
@filter_options
@publish_db_option
@db_option
def export_csv_cmd(out, fmt, rqs, ics, waves, status, publish_db, db_path):
    """Write OUT.csv (or .xlsx): one row per coding with every evidence column."""
    from casestudy.export.spreadsheet import export_csv

    s = export_csv(db_path, out, fmt=fmt, rqs=rqs, ics=ics, waves=waves, status=status, publish_db=publish_db)
    click.echo(f"Wrote {s.path}: {s.rows} codings ({s.format}).")


@click.group("import", cls=Group)
def import_group():
    """Import from other tools: a REFI-QDA codebook as codebook YAML, or a coded REFI-QDA project."""


def placement_options(function):
    function = click.option("--map", "mapping", type=click.Path(dir_okay=False, path_type=Path),
                            help="A file mapping top-level code names to RQ1 … RQ6 or 'skip' (YAML 'name: RQ2', "
                                 "or CSV with columns code, rq).")(function)
    function = click.option("--rq", "rq", metavar="RQn",
                            help="Place every top-level code that is not named 'RQn …' (and not in --map) under this "
                                 "research question, e.g. a flat Taguette codebook.")(function)
    return function


@import_group.command("qdc")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the codebook YAML into (default: FILE's name + '-codebook').")
@click.option("--patterns-from", type=click.Path(file_okay=False, path_type=Path),
              help="Reuse the coding patterns of this codebook for codes with the same id (default: the project's codebook).")
@placement_options
@click.option("--force", is_flag=True, help="Replace the output folder if it is not empty.")
@db_option
def import_qdc_cmd(file, out_dir, patterns_from, rq, mapping, force, db_path):
    """Turn a REFI-QDA codebook (FILE.qdc, or the codebook in FILE.qdpx) into codebook YAML.

    Top-level codes named 'RQ1 …' to 'RQ6 …' are research questions; other tools' codes are
    placed with --rq or --map, and every decision is reported. Load the result with
    `casestudy code --codebook DIR`. Malformed or hostile files are refused and nothing is written.
    """
    from casestudy.export.refi import import_codebook

    s = import_codebook(file, out_dir, patterns_from=patterns_from, force=force, rq=rq, mapping=mapping)
    extra = f"; {s.sources_in_archive} source texts in the archive" if s.sources_in_archive else ""
    restored = f"; {s.restored} themes restored with their casestudy patterns" if s.restored else ""
    click.echo(f"Wrote {s.out}: {len(s.rqs)} research questions, {s.themes} themes, codebook version {s.version}{restored}{extra}.")
    for line in s.report:
        click.echo(f"  - {line}")


@import_group.command("qdpx")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(SOURCE_KINDS),
              help="The kind of every source not given in --sources (and not recorded in the project).")
@click.option("--sources", "sources", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV, one row per source: name (as in the project), kind, participant_id, ics, collaborative, wave, date, title.")
@placement_options
@coder_option
@db_option
def import_qdpx_cmd(file, kind, sources, rq, mapping, coder, db_path):
    """Bring a coded REFI-QDA project (NVivo, ATLAS.ti, MAXQDA, QualCoder, a casestudy export) into the database.

    Sources are ingested as documents of the kind you say (with the usual consent checks: a
    transcript of a participant without interview consent refuses the whole import); the codebook
    is placed under RQ1 … RQ6 as `import qdc` does; every human coding comes in as an accepted
    coding by its coder, with its date; memos come with them. One transaction: a refused file
    changes nothing.
    """
    from casestudy import db as dblib
    from casestudy.export.refi_import import import_project

    db = dblib.open_db(db_path, create=False)
    result = import_project(db, file, actor=coder, kind=kind, sources=sources, rq=rq, mapping=mapping)
    click.echo(f"Imported {file}:")
    for line in result.lines():
        click.echo(f"  - {line}")

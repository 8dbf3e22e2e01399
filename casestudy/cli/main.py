"""The command line: a thin click layer over the library, one command per stage.

Every command takes ``--db`` (default ``db/casestudy.db`` or ``$CASESTUDY_DB``) and
runs in one transaction. Bad input ends in a one-line error and a non-zero exit,
never a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import click

from casestudy import __version__
from casestudy import db as dblib
from casestudy.cli.options import Group, coder_option, db_option, open_existing, progressbar
from casestudy.consent import register as consent_lib
from casestudy.errors import CasestudyError
from casestudy.ingest import files as ingest_lib


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="casestudy")
def cli():
    """casestudy: qualitative case-study research on NHS provider collaboratives.

    Ingest transcripts, board papers, policies and observation notes into SQLite,
    code them to the study's six research questions, review every suggestion, and
    publish consent-safe evidence to Datasette, Word and REFI-QDA.
    """


@cli.command()
@db_option
def init(db_path):
    """Create an empty database with the schema (or upgrade an old one)."""
    existed = Path(db_path).exists()
    db = dblib.open_db(db_path)
    click.echo(f"{'Upgraded' if existed else 'Created'} {db_path} (schema version {dblib.schema_version(db)}).")
    from casestudy import study as study_lib

    settings = study_lib.load(db)
    if settings.is_empty():
        click.echo("Study settings are empty: start with `casestudy study set title ...`, `casestudy study add-ics NAME`, "
                   "`casestudy study add-wave 1 --year YYYY`, or `casestudy study import study.yaml`.")
    else:
        click.echo(f"Study: {settings.display_title()} ({len(settings.ics)} ICSs, {len(settings.waves)} waves).")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(ingest_lib.KINDS), help="What the files are (overrides the manifest).")
@click.option("--ics", help="The Integrated Care System, as named in the study settings (`casestudy study show`). "
              "A transcript's ICS is taken from the consent register when not given.")
@click.option("--collaborative", help="The provider collaborative the files concern, as named in the study settings.")
@click.option("--wave", type=click.IntRange(min=1), help="Fieldwork wave number, as declared in the study settings.")
@click.option("--date", "date_", metavar="YYYY-MM-DD",
              help="Date of the interview, meeting or document, written YYYY-MM-DD (other forms such as "
              "05/06/2024 are refused: day and month could be either way round).")
@click.option("--participant", "participant_id", metavar="ID", help="Participant ID of a transcript, e.g. P03.")
@click.option("--title", help="A title for the source (one file only).")
@click.option("--skip-bad", is_flag=True,
              help="Skip files that cannot be read or are missing (reporting each) instead of ingesting nothing.")
@click.option("--allow-outside", is_flag=True,
              help="Let a folder's manifest.csv list files outside that folder (absolute or ../ paths); refused by default.")
@click.option("--new-ics", is_flag=True,
              help="Accept an ICS the study settings do not know yet and add it to them (audited); otherwise it is refused.")
@click.option("--new-collaborative", is_flag=True,
              help="Accept a collaborative the study settings do not know yet and add it to them (audited).")
@coder_option
@db_option
def ingest(paths, kind, ics, collaborative, wave, date_, participant_id, title, skip_bad, allow_outside, new_ics,
           new_collaborative, coder, db_path):
    """Ingest files or folders of evidence (a folder through its manifest.csv).

    Transcripts: .docx .txt .md .vtt. Board papers, policies, observation notes:
    .pdf .docx .txt .md. Consent registers: .csv .xlsx. Routine indicators
    (--kind indicators): .csv .xlsx with ics, indicator, period (or quarter), value.
    Re-ingesting an unchanged file changes nothing; a changed file replaces its
    excerpts (or its indicator rows); an unchanged file given new metadata gets it, and
    the summary says what changed.

    ICSs, collaboratives and waves are checked against the study settings
    (`casestudy study show`): an unknown one is refused unless declared with --new-ics or
    --new-collaborative (or `casestudy study add-...`). A study with no ICS declared yet
    accepts the first ones given and adds them, saying so.
    """
    overrides = {
        "kind": kind,
        "ics": ics,
        "collaborative": collaborative,
        "wave": wave,
        "date": date_,
        "participant_id": participant_id,
        "title": title,
    }
    db = dblib.open_db(db_path)
    jobs = ingest_lib.plan(paths, overrides, allow_outside=allow_outside)
    with progressbar(len(jobs), "Ingesting") as bar:
        report = ingest_lib.ingest_jobs(db, jobs, actor=coder, skip_bad=skip_bad, progress=lambda job: bar.update(1),
                                        new_ics=new_ics, new_collaborative=new_collaborative)
    for path, problem in report.skipped:
        click.echo(f"Skipped {path}: {problem}", err=True)
    for path, warning in report.warnings:
        click.echo(f"Warning: {path}: {warning}", err=True)
    for note in report.notes:
        click.echo(f"Note: {note}", err=True)
    for path, changes in report.updated:
        click.echo(f"Metadata changed (file unchanged): {path}: {changes}")
    click.echo(report.summary())


@cli.group(cls=Group)
def consent():
    """Consent: who agreed to what, withdrawals and the register."""


@consent.command("status")
@db_option
def consent_status(db_path):
    """A table of participants: consent scope, withdrawal and how many excerpts."""
    db = open_existing(db_path)
    rows = consent_lib.status(db)
    if not rows:
        click.echo("No participants yet: ingest a consent register.")
        return
    yn = lambda v: "-" if v is None else ("yes" if v else "no")  # noqa: E731
    header = f"{'ID':<6} {'ICS':<16} {'org type':<20} {'form':<14} {'intvw':<5} {'rec':<4} {'quote':<5} {'arch':<4} {'withdrawn':<10} {'excerpts':>8}"
    click.echo(header)
    click.echo("-" * len(header))
    for r in rows:
        click.echo(
            f"{r['participant']:<6} {(r['ics'] or '')[:16]:<16} {(r['org_type'] or '')[:20]:<20} {(r['form_version'] or '')[:14]:<14} "
            f"{yn(r['interview']):<5} {yn(r['recording']):<4} {yn(r['quotes']):<5} {yn(r['archive']):<4} "
            f"{(r['withdrawn_date'] or ''):<10} {r['excerpts']:>8}"
        )


@consent.command("withdraw")
@click.argument("participant_id")
@click.option("--date", "date_", metavar="YYYY-MM-DD", help="Date of withdrawal (default today; not in the future).")
@click.option(
    "--purge",
    is_flag=True,
    help="Also erase their transcripts' text, excerpts (and full-text index), codings and memos "
    "from the database, for an erasure request. Keeps the consent record and an audit entry without text.",
)
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Do not ask before purging (for scripts).")
@coder_option
@db_option
def consent_withdraw(participant_id, date_, purge, assume_yes, coder, db_path):
    """Record that PARTICIPANT_ID withdrew: their excerpts leave every view and export.

    The evidence view drops them at once; publish databases recorded beside the working
    database are rebuilt. With --purge their words are erased from the database file too.
    """
    from casestudy.consent import publish as publish_lib

    db = open_existing(db_path)
    participant_id = participant_id.strip()
    if purge:
        consent_lib.registered_consent(db, participant_id)
        plan = consent_lib.purge_plan(db, participant_id)
        click.echo(
            f"Purge {participant_id}: {len(plan['sources'])} transcript(s), {plan['excerpts']} excerpts, "
            f"{plan['codings']} codings, {plan['memos']} memos will be deleted from {db_path}. This cannot be undone.",
            err=True,
        )
        if not assume_yes:
            if not sys.stdin.isatty() and not os.environ.get("CASESTUDY_ASSUME_TTY"):
                raise CasestudyError("--purge needs confirmation: run it in a terminal or add --yes")
            if not click.confirm("Erase these now?", default=False, err=True):
                raise CasestudyError("purge cancelled; nothing changed")
    with dblib.transaction(db):
        row = consent_lib.withdraw(db, participant_id, date_, coder)
        purged = consent_lib.purge(db, participant_id, coder) if purge else None
    click.echo(f"{participant_id} withdrawn as of {row['withdrawn_date']}; excluded from evidence and exports.")
    if purged is not None:
        consent_lib.compact(db)
        click.echo(
            f"Purged {purged['sources']} transcript(s), {purged['excerpts']} excerpts, {purged['codings']} codings, "
            f"{purged['memos']} memos; database compacted."
        )
        for path in purged["files"]:
            click.echo(f"  Delete the original file by hand if the erasure covers it: {path}")
    rebuilt = publish_lib.refresh_publications(db)
    for path in rebuilt:
        click.echo(f"Rebuilt {path} without {participant_id}.")
    click.echo("Exports written before now (Word, REFI-QDA, CSV) are not changed: export them again.")


@consent.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@coder_option
@db_option
@click.option("--new-ics", is_flag=True, help="Accept ICSs the study settings do not know yet and add them (audited).")
def consent_import(file, coder, db_path, new_ics):
    """Import a consent register (.csv or .xlsx): the same as ingesting it.

    A withdrawal already recorded is kept even if the file has no withdrawal date. Each
    row's ICS is checked against the study settings (`casestudy study show`).
    """
    from casestudy import study as study_lib
    from casestudy.consent import pseudonyms

    db = dblib.open_db(db_path)
    with dblib.transaction(db):
        registry = study_lib.Registry(db, coder, new_ics=new_ics)
        counts = consent_lib.import_register(db, file, coder, check_ics=registry.ics)
        pseudonyms.prepare(db)  # the name matcher's tables for the new names: later commands only load them
    click.echo(f"{counts['participants']} participants: {counts['added']} added, {counts['changed']} changed.")
    for pid in counts.get("kept_withdrawals", []):
        click.echo(f"Warning: {file}: {pid} has withdrawn; the withdrawal is kept (the file has no withdrawal date)", err=True)


@cli.command("publish")
@click.argument("out", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--if-changed", is_flag=True, help="Rebuild only if the working database changed since OUT was built.")
@db_option
def publish_cmd(out, if_changed, db_path):
    """Write OUT.db: the consent-safe, pseudonymised database that Datasette and exports read.

    OUT defaults to <working db stem>-publish.db beside the working database.

    Only excerpts that consent allows, every register name replaced by its pseudonym,
    no file paths; refused-quotation text replaced by a placeholder.
    """
    from casestudy.consent import publish as publish_lib

    out = out or publish_lib.default_publish_path(db_path)
    if Path(out).resolve() == Path(db_path).resolve():
        raise CasestudyError("the publish database must be a different file from the working database", out)
    if if_changed and not publish_lib.ensure_published(db_path, out):
        click.echo(f"{out} is up to date.")
        return
    if not if_changed:
        counts = publish_lib.publish(open_existing(db_path), out)
    else:
        counts = publish_lib.read_counts(out)
    click.echo(
        f"Published {out}: {counts.get('sources', 0)} sources, {counts.get('excerpts', 0)} excerpts, "
        f"{counts.get('evidence', 0)} evidence rows, {counts.get('participants', 0)} participants"
        + (f", {counts['indicators']} indicator values" if counts.get("indicators") else "")
        + f" ({counts.get('withheld_quotes', 0)} excerpts withheld from quotation) in {counts.get('seconds', 0)} s."
    )


@cli.command()
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), help="The study folder (default: the shipped corpus/).")
@db_option
def demo(corpus, db_path):
    """Build the sample study into the database end to end and say what to open next."""
    from casestudy import demo as demo_lib

    demo_lib.run(db_path, corpus, echo=click.echo)


# `casestudy export ...` and `casestudy import ...` (casestudy/cli_export.py)
from casestudy.cli.export import export_group, import_group  # noqa: E402

cli.add_command(export_group)
cli.add_command(import_group)

# `casestudy code`, `casestudy codebook ...`, `casestudy review ...` (casestudy/cli_coding.py)
from casestudy.cli.coding import code_cmd, codebook_group, learn_cmd, review_group  # noqa: E402

cli.add_command(code_cmd)
cli.add_command(learn_cmd)
cli.add_command(codebook_group)
cli.add_command(review_group)

# `casestudy study ...`: the study settings (casestudy/cli/study.py)
from casestudy.cli.study import study_group  # noqa: E402

cli.add_command(study_group)

# `casestudy workspace`: the browser coding workspace (casestudy/cli/workspace.py)
from casestudy.cli.workspace import workspace_cmd  # noqa: E402

cli.add_command(workspace_cmd)


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but 127.0.0.1/localhost needs --password-hash and HTTPS "
                   "(--certfile/--keyfile) or --behind-tls-proxy.")
@click.option("--open", "open_browser", is_flag=True, help="Open the site in your web browser.")
@click.option("--certfile", type=click.Path(dir_okay=False), help="TLS certificate (PEM): serve HTTPS.")
@click.option("--keyfile", type=click.Path(dir_okay=False), help="The certificate's private key (PEM).")
@click.option("--behind-tls-proxy", is_flag=True,
              help="Plain HTTP on a non-local host because a reverse proxy in front terminates TLS.")
@click.option("--publish-db", "publish_db", type=click.Path(dir_okay=False),
              help="The publish database to (re)build and serve (default: <db>-publish.db beside --db).")
@click.option("--password-hash", envvar="CASESTUDY_PASSWORD_HASH", show_envvar=True,
              help="Require this password (HTTP basic auth, user 'team'); make a hash with --hash-password.")
@click.option("--hash-password", "hash_only", is_flag=True,
              help="Ask for a password, print its hash for --password-hash, and exit.")
@db_option
def serve(port, host, open_browser, publish_db, certfile, keyfile, behind_tls_proxy, password_hash, hash_only, db_path):
    """Browse, search and compare the coded evidence in Datasette.

    Rebuilds the consent-safe publish database if the working database changed, then
    serves it (never the working database) with the study's facets, full-text search
    and canned queries. Local only (127.0.0.1) unless a password is set.
    """
    from casestudy.browse import serve as serve_lib

    if hash_only:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        click.echo(serve_lib.hash_password(password))
        return
    serve_lib.run(db_path, publish_db, host=host, port=port, open_browser=open_browser,
                  password_hash=password_hash, echo=click.echo, certfile=certfile, keyfile=keyfile,
                  behind_tls_proxy=behind_tls_proxy)

"""`casestudy study ...`: the study settings (title, team, ICSs, collaboratives, waves)."""

from __future__ import annotations

from pathlib import Path

import click

from casestudy import db as dblib
from casestudy import study as study_lib
from casestudy.cli.options import Group, coder_option, db_option
from casestudy.errors import CasestudyError

FIELDS = ("title", "subtitle", "description", "pi", "authors", "funder", "grant", "status")


@click.group("study", cls=Group)
def study_group():
    """Study settings: what every report, page and ingest check says about the study.

    Title, team, funder, report status, and the registry ingest checks against: the
    ICSs, the collaboratives in each, and the fieldwork waves with their years or dates.
    Edit them one at a time (set, add-ics, add-collaborative, add-wave) or all at once
    from a YAML file (import; `export` writes one to start from).
    """


def _open(db_path):
    return dblib.open_db(db_path, create=False)


@study_group.command("show")
@db_option
def show(db_path):
    """Print the study settings."""
    settings = study_lib.load(_open(db_path))
    click.echo(describe(settings))


def describe(settings: study_lib.StudySettings) -> str:
    """The settings as plain text, every field on its own line (blank ones marked)."""
    unset = "(not set)"
    lines = [f"{'Title:':<14}{settings.title or unset}", f"{'Subtitle:':<14}{settings.subtitle or unset}",
             f"{'Description:':<14}{settings.description or unset}", f"{'PI:':<14}{settings.pi or unset}",
             f"{'Authors:':<14}{'; '.join(settings.authors) or unset}", f"{'Funder:':<14}{settings.funder or unset}",
             f"{'Grant:':<14}{settings.grant or unset}", f"{'Status:':<14}{settings.status}"]
    lines.append(f"ICSs ({len(settings.ics)}):" + ("" if settings.ics else " none declared"))
    for ics in settings.ics:
        lines.append(f"  {ics.name}" + (f" - {ics.full_name}" if ics.full_name else ""))
        for c in settings.collaboratives:
            if (c.ics or "").lower() == ics.name.lower():
                extra = "; ".join(x for x in (c.type, c.governance_model) if x)
                lines.append(f"    {c.name}" + (f" ({extra})" if extra else ""))
    loose = [c for c in settings.collaboratives if not c.ics]
    for c in loose:
        lines.append(f"  (no ICS) {c.name}")
    lines.append(f"Waves ({len(settings.waves)}):" + ("" if settings.waves else " none declared"))
    for w in settings.waves:
        first, last = (w.start, w.end) if (w.start or w.end) else (None, None)
        dates = f", {first or '...'} to {last or '...'}" if (first or last) else ""
        lines.append(f"  {study_lib.wave_label(settings, w.number)}{dates}")
    return "\n".join(lines)


@study_group.command("set")
@click.argument("field", type=click.Choice(FIELDS))
@click.argument("value")
@coder_option
@db_option
def set_cmd(field, value, coder, db_path):
    """Set one field, e.g. `casestudy study set title "Provider collaboratives in three ICSs"`.

    authors takes names separated by ';'. status is draft or final (the report's status line).
    An empty VALUE clears the field.
    """
    db = _open(db_path)
    with dblib.transaction(db):
        study_lib.set_field(db, field, value, coder)
    click.echo(f"{field} set.")


@study_group.command("add-ics")
@click.argument("name")
@click.option("--full-name", help="The ICS's full name, e.g. the ICB's formal name, for reports.")
@coder_option
@db_option
def add_ics(name, full_name, coder, db_path):
    """Declare an ICS of the study (or change its full name)."""
    db = _open(db_path)
    with dblib.transaction(db):
        study_lib.add_ics(db, name, coder, full_name)
    click.echo(f"ICS {name.strip()} declared.")


@study_group.command("add-collaborative")
@click.argument("name")
@click.option("--ics", help="The (declared) ICS the collaborative belongs to.")
@click.option("--type", "type_", help="What kind of collaborative, e.g. 'acute' or 'mental health'.")
@click.option("--governance", "governance", help="Its governance model, e.g. 'committees in common'.")
@coder_option
@db_option
def add_collaborative(name, ics, type_, governance, coder, db_path):
    """Declare a provider collaborative (or change its ICS, type or governance model)."""
    db = _open(db_path)
    with dblib.transaction(db):
        study_lib.add_collaborative(db, name, coder, ics, type_, governance)
    click.echo(f"Collaborative {name.strip()} declared.")


@study_group.command("add-wave")
@click.argument("number", type=int)
@click.option("--year", type=int, help="The calendar year of the wave, e.g. 2025.")
@click.option("--start", metavar="YYYY-MM-DD", help="First day of the wave's fieldwork (instead of --year).")
@click.option("--end", metavar="YYYY-MM-DD", help="Last day of the wave's fieldwork (instead of --year).")
@coder_option
@db_option
def add_wave(number, year, start, end, coder, db_path):
    """Declare fieldwork wave NUMBER with its year or date range (or change them)."""
    db = _open(db_path)
    wave = study_lib.make_wave(number, year, start, end)
    with dblib.transaction(db):
        study_lib.add_wave(db, wave, coder)
    click.echo(f"Wave declared: {study_lib.wave_label(study_lib.StudySettings(waves=[wave]), number)}.")


@study_group.command("remove")
@click.argument("what", type=click.Choice(["ics", "collaborative", "wave"]))
@click.argument("name")
@coder_option
@db_option
def remove(what, name, coder, db_path):
    """Remove an ICS, collaborative or wave that no source, participant or figure uses yet."""
    db = _open(db_path)
    if what == "wave" and not name.strip().isdigit():
        raise CasestudyError(f"a wave is removed by its number, got {name!r}")
    with dblib.transaction(db):
        study_lib.remove(db, what, name, coder)
    click.echo(f"Removed {what} {name}.")


@study_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@coder_option
@db_option
def import_cmd(file, coder, db_path):
    """Read settings from a YAML file (see `casestudy study export`) and merge them in.

    Fields in the file replace the database's; ICSs, collaboratives and waves are added or
    updated, never removed (use `casestudy study remove`).
    """
    settings = study_lib.read_yaml(file)
    db = _open(db_path)
    with dblib.transaction(db):
        study_lib.save(db, settings, coder)
    merged = study_lib.load(db)
    click.echo(
        f"Study settings imported from {file}: {len(merged.ics)} ICSs, {len(merged.collaboratives)} collaboratives, "
        f"{len(merged.waves)} waves."
    )


@study_group.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@db_option
def export_cmd(file, db_path):
    """Write the settings as YAML to FILE (or print them), to edit and import again."""
    text = study_lib.to_yaml(study_lib.load(_open(db_path)))
    if file is None:
        click.echo(text, nl=False)
        return
    file.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {file}.")

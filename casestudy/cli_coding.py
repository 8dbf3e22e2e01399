"""`casestudy code`, `casestudy codebook ...` and `casestudy review ...`: the click layer
over casestudy.codebook, casestudy.coding and casestudy.review."""

from __future__ import annotations

from pathlib import Path

import click

from . import codebook as codebook_lib
from . import coding as coding_lib
from .cli import Group, coder_option, db_option, open_existing, progressbar

codebook_dir_option = click.option(
    "--codebook",
    "codebook_dir",
    type=click.Path(path_type=Path),
    help="A codebook folder of YAML files (default: $CASESTUDY_CODEBOOK, else the project's codebook/).",
)


@click.command("code")
@codebook_dir_option
@coder_option
@db_option
def code_cmd(codebook_dir, coder, db_path):
    """Suggest codes for every excerpt not yet coded with this codebook version.

    Participant turns, paper paragraphs and observation notes are coded (never
    interviewer turns, never withdrawn participants). Suggestions are stored with coder
    auto:<version> and status 'suggested'. A changed codebook re-codes: unreviewed
    suggestions of older versions are replaced; accepted, rejected and hand-added codings
    are kept.
    """
    book = codebook_lib.load(codebook_dir)
    db = open_existing(db_path)
    pending = coding_lib.pending_count(db, book.version)
    with progressbar(pending, "Coding") as bar:
        result = coding_lib.code_database(db, book, actor=coder, progress=bar.update)
    click.echo(result.summary())
    retired = result.codes.get("kept", 0)
    if retired:
        click.echo(f"{retired} code(s) no longer in the codebook kept because codings or memos use them.")


@click.group("codebook", cls=Group)
def codebook_group():
    """The codebook: check a folder of YAML and list its codes."""


@codebook_group.command("check")
@click.argument("folder", required=False, type=click.Path(path_type=Path))
def codebook_check(folder):
    """Validate a codebook FOLDER (default: the project's) and print its version."""
    book = codebook_lib.load(folder)
    click.echo(
        f"{book.path}: {book.name}, version {book.version}, "
        f"{len({c.rq for c in book.codes})} research questions, {len(book.codable)} codable themes."
    )


@codebook_group.command("list")
@click.argument("folder", required=False, type=click.Path(path_type=Path))
def codebook_list(folder):
    """List the codes of a codebook FOLDER (default: the project's)."""
    book = codebook_lib.load(folder)
    for code in book.codes:
        indent = "  " if code.codable else ""
        click.echo(f"{indent}{code.id:<34} {code.name}")

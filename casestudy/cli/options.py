"""What every command shares: the error-handling group, ``--db``, ``--coder`` and progress bars."""

from __future__ import annotations

import getpass
import os
import sqlite3
import sys
from pathlib import Path

import click

from casestudy import db as dblib
from casestudy.errors import CasestudyError


class Group(click.Group):
    """A click group that turns our errors into one line on stderr and exit code 1."""

    def invoke(self, ctx):
        previous = dblib.track_opened()
        try:
            return super().invoke(ctx)
        except CasestudyError as error:
            click.echo(f"Error: {error.message}", err=True)
            sys.exit(1)
        except click.UsageError as error:
            # one line, like every other bad input (no usage block); exit code 2 as click does
            where = error.ctx.command_path if error.ctx is not None else "casestudy"
            click.echo(f"Error: {where}: {' '.join(error.format_message().split())}", err=True)
            sys.exit(2)
        except sqlite3.Error as error:
            click.echo(f"Error: database: {error}", err=True)
            sys.exit(1)
        finally:  # the databases this command opened: closed now, so the WAL is checkpointed into the file
            dblib.close_tracked(previous)


def db_option(function):
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        default=dblib.default_db_path,
        show_default="db/casestudy.db or $CASESTUDY_DB",
        help="The working SQLite database.",
    )(function)


codebook_dir_option = click.option(
    "--codebook",
    "codebook_dir",
    type=click.Path(path_type=Path),
    help="A codebook folder of YAML files (default: $CASESTUDY_CODEBOOK, else the project's codebook/).",
)


def coder_option(function):
    return click.option(
        "--coder",
        default=lambda: os.environ.get("CASESTUDY_CODER") or getpass.getuser(),
        show_default="$CASESTUDY_CODER or your login name",
        help="Who is doing this: recorded in the audit log and on codings.",
    )(function)


def person_option(function):
    """``--coder`` for human decisions (review): a person must be named, by the option or
    $CASESTUDY_CODER; the login name is never taken silently (it is often "root" or a shared account)."""
    return click.option(
        "--coder",
        default=lambda: os.environ.get("CASESTUDY_CODER") or None,
        show_default="$CASESTUDY_CODER",
        help="Your name, recorded on every decision and in the audit log (required: this option or $CASESTUDY_CODER).",
    )(function)


def progressbar(length: int, label: str):
    """A progress bar on stderr when it is a terminal; silent otherwise, so that a
    script (or a test) reading stderr sees only real messages such as the one-line error."""
    return click.progressbar(
        length=length, label=label, file=sys.stderr, show_pos=True, hidden=not sys.stderr.isatty()
    )


def open_existing(db_path: str):
    """Open a database that `init` (or `demo`) has already made."""
    return dblib.open_db(db_path, create=False)

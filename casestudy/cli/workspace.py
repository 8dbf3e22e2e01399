"""`casestudy workspace`: the browser coding workspace for researchers."""

from __future__ import annotations

import click

from casestudy.cli.options import codebook_dir_option, db_option


@click.command("workspace")
@click.option("--port", type=click.IntRange(1, 65535), default=8002, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but 127.0.0.1 needs --users and HTTPS (or --behind-tls-proxy).")
@click.option("--users", "users_path", type=click.Path(dir_okay=False),
              help="Users file (NAME:HASH lines, from --add-user): log in with a password. Default $CASESTUDY_WORKSPACE_USERS.")
@click.option("--add-user", metavar="NAME", help="Add (or change the password of) researcher NAME in the --users file, then stop.")
@click.option("--certfile", type=click.Path(dir_okay=False), help="TLS certificate (PEM): serve HTTPS.")
@click.option("--keyfile", type=click.Path(dir_okay=False), help="TLS private key (PEM) for --certfile.")
@click.option("--behind-tls-proxy", is_flag=True, help="A reverse proxy in front terminates HTTPS (see docs/security.md).")
@click.option("--open", "open_browser", is_flag=True, help="Open the workspace in your web browser.")
@codebook_dir_option
@db_option
def workspace_cmd(port, host, users_path, add_user, certfile, keyfile, behind_tls_proxy, open_browser, codebook_dir, db_path):
    """Code in the browser: read whole sources, accept or reject suggestions, add codes,
    code selected words, write memos, double-code blind samples and see agreement.

    Every decision is recorded with the name you log in with, through the same library
    as `casestudy review`. On 127.0.0.1 (the default) you log in with your name only; on
    any other address each researcher needs a password (--users) and the connection HTTPS.
    Only excerpts consent allows are shown, always pseudonymised.
    """
    from casestudy.errors import CasestudyError
    from casestudy.workspace import app, server

    if add_user:
        if not users_path:
            raise CasestudyError("--add-user needs --users FILE (where the password hash is kept)")
        password = click.prompt(f"Password for {add_user}", hide_input=True, confirmation_prompt=True, err=True)
        app.add_user(users_path, add_user, password)
        click.echo(f"{add_user} can log in with that password; start with --users {users_path}.")
        return
    config = server.make_config(db_path, host, users_path, certfile, keyfile, behind_tls_proxy, codebook_dir)
    server.run(config, host=host, port=port, open_browser=open_browser, certfile=certfile, keyfile=keyfile, echo=click.echo)

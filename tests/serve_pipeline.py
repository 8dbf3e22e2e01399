"""The real pipeline for the Datasette tests: ingest the sample corpus, code it, publish it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from casestudy.cli.main import cli

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


def build_study(folder: Path) -> tuple[Path, Path]:
    """``folder/work.db`` (ingested + coded) and ``folder/work-publish.db`` (published, prepared)."""
    from casestudy.browse import serve

    folder.mkdir(parents=True, exist_ok=True)
    work = folder / "work.db"
    runner = CliRunner()
    for args in (["ingest", str(CORPUS), "--db", str(work)], ["code", "--db", str(work)]):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    publish_path = serve.default_publish_path(work)
    serve.ensure_publish_db(work, publish_path, echo=lambda _: None)
    serve.prepare_publish_db(publish_path)
    return work, publish_path

"""Shared pytest fixtures. Append your own below; keep each one small and generic."""

from __future__ import annotations

from pathlib import Path

import pytest

import filemakers  # tests/filemakers.py: writers of real .docx/.pdf/.vtt/.txt/.md/.csv/.xlsx files


# --- ingest fixtures (foundation) ---------------------------------------------------


@pytest.fixture
def make_study():
    """``make_study(tmp_path)`` → a study folder with a manifest, consent register and every format."""
    return filemakers.make_study


@pytest.fixture
def study(tmp_path) -> Path:
    """A fresh sample study folder (see ``filemakers.make_study``)."""
    return filemakers.make_study(tmp_path)


@pytest.fixture
def db_path(tmp_path) -> Path:
    """Path of an initialised, empty working database."""
    from casestudy import db as dblib

    path = tmp_path / "work.db"
    dblib.open_db(path).conn.close()
    return path


@pytest.fixture
def dump_db():
    """``dump_db(path)`` → every schema line and row of a database, for before/after comparisons."""
    return filemakers.dump_db


# --- export fixtures (exports) ----------------------------------------------------------


@pytest.fixture(scope="session")
def export_fixture_db(tmp_path_factory) -> Path:
    """A small publish database built to the publish contract (tests/export_fixture.py)."""
    from export_fixture import build_publish_db

    return build_publish_db(tmp_path_factory.mktemp("export-fixture") / "publish.db")


@pytest.fixture(scope="session")
def export_pipeline_dbs(tmp_path_factory) -> tuple[Path, Path]:
    """(working db, publish db) of the sample corpus through ingest → code → publish."""
    from export_pipeline import build_working_db

    from casestudy.consent import publish

    folder = tmp_path_factory.mktemp("export-pipeline")
    working = build_working_db(folder / "work.db")
    out = folder / "publish.db"
    publish.publish(working, out)
    return working, out


# --- Datasette fixtures (serve) -----------------------------------------------------


@pytest.fixture(scope="session")
def served_study(tmp_path_factory):
    """(working db, publish db) of the sample corpus, ingested, coded and published once per session."""
    import serve_pipeline

    return serve_pipeline.build_study(tmp_path_factory.mktemp("served-study"))


@pytest.fixture(scope="module")
def pub(served_study):
    """The served study's publish database."""
    return served_study[1]


@pytest.fixture(scope="module")
def ds(pub):
    """A Datasette over ``pub`` (the real plugin and metadata), for in-process requests."""
    from casestudy.browse import serve

    return serve.build_datasette(pub)


# --- workspace fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def workspace_template(tmp_path_factory) -> Path:
    """A working db of the small sample study (tests/filemakers.py), ingested and coded once per
    session; tests copy it (``workspace_server.copy_db``) before changing it."""
    import workspace_server

    return workspace_server.build_coded_study(tmp_path_factory.mktemp("workspace-template"))


@pytest.fixture
def coded_study_db(workspace_template) -> Path:
    """The sample study ingested and coded with the default codebook (the workspace's template,
    built once per worker): read it, or copy it before writing."""
    return workspace_template


# --- Word report rendering (word) ----------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _report_layout_off():
    """Exports skip the LibreOffice layout pass that numbers the report's contents
    (CASESTUDY_SOFFICE=none), so only the render tests that ask for it pay for it."""
    import os

    before = os.environ.get("CASESTUDY_SOFFICE")
    os.environ["CASESTUDY_SOFFICE"] = "none"
    yield
    if before is None:
        os.environ.pop("CASESTUDY_SOFFICE", None)
    else:
        os.environ["CASESTUDY_SOFFICE"] = before


# --- learned model cache (codespeed) ----------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _model_cache_in_session(tmp_path_factory):
    """Trained default models are cached (casestudy.coding.modelcache) in a folder of the test
    session, never in the user's own cache; pytest-xdist's workers share it (entries are written
    whole, then renamed), so the default model is trained once per session, not once per worker."""
    import os

    before = os.environ.get("CASESTUDY_MODEL_CACHE")
    if os.environ.get("PYTEST_XDIST_WORKER"):  # basetemp is <session>/popen-gwN: share <session>/model-cache
        folder = tmp_path_factory.getbasetemp().parent / "model-cache"
        folder.mkdir(exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp("model-cache")
    os.environ["CASESTUDY_MODEL_CACHE"] = str(folder)
    yield
    if before is None:
        os.environ.pop("CASESTUDY_MODEL_CACHE", None)
    else:
        os.environ["CASESTUDY_MODEL_CACHE"] = before


# --- coding fixtures ---------------------------------------------------------------


@pytest.fixture
def coded(tmp_path, study):
    """The sample study ingested and coded with the shipped codebook (actor ``tester``):
    ``(db, coding result, database path)``. A module may define its own ``coded`` instead."""
    from casestudy import db as dblib
    from casestudy.coding import codebook
    from casestudy.coding import engine as coding
    from casestudy.ingest import files as ingest

    path = tmp_path / "work.db"
    db = dblib.open_db(path)
    ingest.ingest(db, [study], actor="test", skip_bad=True)
    result = coding.code_database(db, codebook.load(Path(__file__).resolve().parent.parent / "codebook"), actor="tester")
    return db, result, path

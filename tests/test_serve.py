"""`casestudy serve`: Datasette over the publish database (JSON API, facets, search, canned queries,
presentation, consent safety, the password rule). Runs on the real pipeline: ingest → code → publish."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from casestudy.browse import serve
from casestudy.cli.main import cli
from casestudy.errors import CasestudyError
from filemakers import sql

REPO = Path(__file__).resolve().parent.parent
P09_CANARY = "The orange folder on my desk is where the merger plans went to die."


def get(ds, url):
    return asyncio.run(ds.client.get(url))


def get_json(ds, url):
    response = get(ds, url)
    assert response.status_code == 200, (url, response.text[:500])
    return response.json()


# --- the home page and metadata -------------------------------------------------------------


def test_home_page_guides_a_newcomer(ds, pub):
    response = get(ds, "/")
    assert response.status_code == 200
    html = response.text
    assert "Start here" in html
    assert "Provider collaboratives in three Integrated Care Systems: coded evidence" in html  # corpus/study.yaml
    assert "wave 2 (2025)" in html  # the waves as the study settings date them
    assert 'href="/study/framework_matrix?rq="' in html
    for rq in ("RQ1", "RQ2", "RQ3", "RQ4", "RQ5", "RQ6"):
        assert f'href="/study/excerpt_evidence?rqs__arraycontains={rq}"' in html
    assert '<form class="cs-search" action="/study/search" method="get"' in html
    assert 'href="/study/coder_scorecard">How far to trust the suggestions</a>' in html
    assert "_memory" not in html and get(ds, "/_memory").status_code == 404  # Datasette's scratch database is gone
    assert '<option value="2">wave 2 (2025)</option>' in html
    assert "RQ3 Governance" in html  # the RQ names come from the codebook
    assert "/casestudy-static/casestudy.css" in html
    css = get(ds, "/casestudy-static/casestudy.css")
    assert css.status_code == 200 and "cs-term" in css.text


def test_tables_are_described_and_internal_tables_hidden(ds, pub):
    data = get_json(ds, "/study.json")
    tables = {t["name"]: t for t in data["tables"]}
    for name in ("evidence", "excerpts", "sources", "codes", "participants", "framework", "consent_summary", "memos"):
        assert not tables[name]["hidden"], name
    for name in ("publish_info", "evidence_fts", "evidence_fts_data", "excerpts_fts_idx", "evidence_facet_counts",
                 "evidence_facet_cube"):
        assert tables[name]["hidden"], name
    meta = get_json(ds, "/-/metadata.json")
    assert meta["title"] == "Provider collaboratives in three Integrated Care Systems: coded evidence"
    assert "Ashmoor" in meta["description"] and "wave 3 (2026)" in meta["description"]  # from corpus/study.yaml
    described = meta["databases"]["study"]["tables"]
    evidence_cols = [r[1] for r in sql(pub, "PRAGMA table_info(evidence)")]
    assert set(evidence_cols) <= set(described["evidence"]["columns"])  # every column a researcher sees
    for name in ("excerpts", "sources", "codes", "participants", "framework", "memos", "consent_summary",
                 "review_summary", "agreement_ratings", "suggestion_outcomes", "coder_scorecard"):
        cols = [r[1] for r in sql(pub, f"PRAGMA table_info({name})")]
        assert set(cols) <= set(described[name]["columns"]), name
        assert described[name]["description"]
    assert described["codes"]["label_column"] == "name" and described["sources"]["sort"] == "date"
    page = get(ds, "/study/evidence").text
    assert "One row per code applied to an excerpt" in page
    assert "Research question RQ1–RQ6" in page  # column descriptions are shown
    assert "how many of its suggestions researchers kept (precision)" in get(ds, "/study/coder_scorecard").text


def test_never_serves_the_working_database(served_study, tmp_path):
    work, _ = served_study
    with pytest.raises(CasestudyError, match="working database"):
        serve.build_datasette(work)
    result = CliRunner().invoke(cli, ["serve", "--db", str(work), "--publish-db", str(work)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Error:" in result.output and "Traceback" not in result.output


# --- evidence: JSON API, facets, search --------------------------------------------------------


FACETS = ["rq", "code", "ics", "collaborative", "wave", "source_kind", "org_type", "participant_role", "status", "date"]


def facet_counts(data, name):
    return {v["value"]: v["count"] for v in data["facet_results"][name]["results"]}


def test_evidence_json_has_every_facet_with_true_counts(ds, pub):
    data = get_json(ds, "/study/evidence.json?_facet_size=max")
    total = sql(pub, "SELECT count(*) FROM evidence")[0][0]
    assert data["filtered_table_rows_count"] == total > 1000
    assert set(data["facet_results"]) == set(FACETS)
    assert data["facet_results"]["date"]["type"] == "date"
    for col in FACETS[:-1]:
        expected = dict(sql(pub, f"SELECT {col}, count(*) FROM evidence WHERE {col} IS NOT NULL GROUP BY {col}"))
        assert facet_counts(data, col) == expected, col
    assert set(facet_counts(data, "ics")) == {"Ashmoor", "Kellbridge", "Saltmarsh Coast"}
    assert set(facet_counts(data, "wave")) == {1, 2, 3}
    assert sum(facet_counts(data, "rq").values()) == total
    dates = dict(sql(pub, "SELECT date(date), count(*) FROM evidence WHERE date IS NOT NULL GROUP BY date(date)"))
    assert facet_counts(data, "date") == dates


def test_filtered_facets_count_the_filtered_rows(ds, pub):
    data = get_json(ds, "/study/evidence.json?ics=Kellbridge&wave=2&_facet_size=max")
    expected = dict(sql(pub, "SELECT rq, count(*) FROM evidence WHERE ics = 'Kellbridge' AND wave = 2 GROUP BY rq"))
    assert facet_counts(data, "rq") == expected
    assert facet_counts(data, "ics") == {"Kellbridge": sum(expected.values())}
    assert data["filtered_table_rows_count"] == sum(expected.values())
    kinds = dict(sql(pub, "SELECT source_kind, count(*) FROM evidence WHERE ics = 'Kellbridge' AND wave = 2 GROUP BY 1"))
    assert facet_counts(data, "source_kind") == kinds


def _sql_facets(pub, where, args, limit=None):
    """Every facet's (value, count) list as Datasette's own facet SQL orders and limits it."""
    out = {}
    for name in FACETS:
        expr = "date(date)" if name == "date" else name
        rows = sql(pub, f"SELECT {expr}, count(*) AS n FROM evidence WHERE ({where}) AND {expr} IS NOT NULL "
                        f"GROUP BY {expr} ORDER BY n DESC, {expr}" + (f" LIMIT {limit}" if limit else ""), *args)
        out[name] = [tuple(r) for r in rows]
    return out


@pytest.mark.parametrize("query, where, args", [
    ("wave=2", "wave = 2", ()),
    ("wave__exact=3", "wave = 3", ()),
    ("code=" + "{code}", "code = ?", ("{code}",)),
    ("status=suggested", "status = 'suggested'", ()),
    ("collaborative={collab}", "collaborative = ?", ("{collab}",)),
    ("ics=nowhere", "ics = 'nowhere'", ()),
    ("rq=RQ3&ics=Kellbridge", "rq = 'RQ3' AND ics = 'Kellbridge'", ()),
    ("_search=delegated", "rowid IN (SELECT rowid FROM evidence_fts WHERE evidence_fts MATCH 'delegated')", ()),
    ("_search=delegated&wave=1", "wave = 1 AND rowid IN (SELECT rowid FROM evidence_fts WHERE evidence_fts MATCH 'delegated')", ()),
])
def test_every_facet_of_a_filtered_page_is_exact(ds, pub, query, where, args):
    """Filtered facets come from evidence_facet_cube or one shared count: they must equal the SQL."""
    code = sql(pub, "SELECT code FROM evidence GROUP BY code ORDER BY count(*) DESC LIMIT 1")[0][0]
    collab = sql(pub, "SELECT collaborative FROM evidence WHERE collaborative IS NOT NULL LIMIT 1")[0][0]
    fill = {"code": code, "collab": collab}
    query = query.format(**fill)
    args = tuple(a.format(**fill) for a in args)
    for size, limit in (("max", None), ("3", 3)):
        data = get_json(ds, f"/study/evidence.json?{httpx.QueryParams(query)}&_facet_size={size}")
        assert set(data["facet_results"]) == set(FACETS), (query, data.get("facets_timed_out"))
        expected = _sql_facets(pub, where, args, limit)
        got = {name: [(v["value"], v["count"]) for v in data["facet_results"][name]["results"]] for name in FACETS}
        assert got == expected, query
    # a facet the researcher adds is counted by Datasette as usual
    extra = get_json(ds, f"/study/evidence.json?{httpx.QueryParams(query)}&_facet=coder&_facet_size=max")
    assert facet_counts(extra, "coder") == dict(sql(pub, f"SELECT coder, count(*) FROM evidence WHERE ({where}) "
                                                         "AND coder IS NOT NULL GROUP BY coder", *args))


def test_full_text_search_on_the_evidence_page(ds, pub):
    html = get(ds, "/study/evidence").text
    assert 'name="_search"' in html  # the search box
    data = get_json(ds, "/study/evidence.json?_search=delegated&_shape=objects&_size=max&_facet_size=max")
    expected = sql(pub, "SELECT count(*) FROM evidence_fts WHERE evidence_fts MATCH 'delegated'")[0][0]
    assert data["filtered_table_rows_count"] == expected > 0
    assert all("delegat" in (r["text"] + r["code"] + r["source_title"]).lower() for r in data["rows"])
    # search and a facet together
    both = get_json(ds, "/study/evidence.json?_search=delegated&ics=Kellbridge&_facet_size=max")
    expected_k = sql(pub, """SELECT count(*) FROM evidence WHERE ics = 'Kellbridge' AND rowid IN
                             (SELECT rowid FROM evidence_fts WHERE evidence_fts MATCH 'delegated')""")[0][0]
    assert both["filtered_table_rows_count"] == expected_k > 0
    assert facet_counts(both, "ics") == {"Kellbridge": expected_k}
    # the excerpts table is searchable too
    ex = get_json(ds, "/study/excerpts.json?_search=delegated")
    assert ex["filtered_table_rows_count"] > 0


# --- canned queries --------------------------------------------------------------------------


def example_args(pub):
    excerpt = sql(pub, "SELECT excerpt_id FROM evidence WHERE source_kind = 'transcript' ORDER BY excerpt_id LIMIT 1 OFFSET 5")[0][0]
    code = sql(pub, "SELECT code_id FROM evidence GROUP BY code_id ORDER BY count(*) DESC LIMIT 1")[0][0]
    return {
        "framework_matrix": {"rq": ""},
        "evidence_for": {"rq": "RQ3", "code": "", "ics": "Kellbridge", "wave": "2"},
        "longitudinal": {"rq": "", "ics": ""},
        "cooccurrence": {"code": code, "ics": "", "wave": ""},
        "sources_by_ics": {"wave": ""},
        "consent_counts": {},
        "review_queue": {"rq": "RQ4", "ics": ""},
        "excerpt_context": {"excerpt_id": str(excerpt), "around": "2"},
        "search": {"q": "delegat*", "rq": "", "ics": "", "wave": ""},
        "indicator_trend": {"indicator": "rtt_52_week_waits", "ics": ""},
    }


def run_query(ds, name, args):
    response = get(ds, f"/study/{name}.json?" + httpx.QueryParams({**args, "_shape": "objects", "_size": "max"}).__str__())
    assert response.status_code == 200, (name, response.text[:500])
    data = response.json()
    assert data["ok"] and data["error"] is None, (name, data.get("error"))
    return data["rows"]


def test_every_canned_query_runs_has_a_description_and_returns_rows(ds, pub):
    queries = serve.canned_queries(pub)
    assert set(queries) == set(serve.CANNED_EXAMPLES) == set(example_args(pub))
    for name, query in queries.items():
        assert query["title"] and len(query["description"]) > 40, name
        rows = run_query(ds, name, example_args(pub)[name])
        assert rows, name
        html = get(ds, f"/study/{name}?" + str(httpx.QueryParams(example_args(pub)[name])))
        assert html.status_code == 200 and query["description"][:30] in html.text, name


def test_framework_matrix_counts_excerpts_per_rq_ics_wave(ds, pub):
    rows = run_query(ds, "framework_matrix", {"rq": ""})
    assert [r["rq"] for r in rows] == ["RQ1", "RQ2", "RQ3", "RQ4", "RQ5", "RQ6"]
    expected = {(rq, ics, wave): n for rq, ics, wave, n in sql(
        pub, "SELECT rq, ics, wave, count(DISTINCT excerpt_id) FROM evidence GROUP BY rq, ics, wave")}
    for row in rows:
        assert row["row_label"].startswith(row["rq"] + " ")
        for (rq, ics, wave), n in expected.items():
            if rq == row["rq"]:
                assert row[f"{ics or 'national'} w{wave}"] == n
        assert row["total"] == sum(n for (rq, _, _), n in expected.items() if rq == row["rq"])
    by_code = run_query(ds, "framework_matrix", {"rq": "rq3"})
    assert len(by_code) > 1 and all(r["rq"] == "RQ3" and r["code_id"].startswith("RQ3") for r in by_code)
    assert sum(r["total"] for r in by_code) == sql(pub, "SELECT sum(excerpts) FROM framework WHERE rq = 'RQ3'")[0][0]
    html = get(ds, "/study/framework_matrix?rq=").text  # numbers link to the evidence behind them
    assert 'class="cs-cell" href="/study/excerpt_evidence?rqs__arraycontains=RQ3&amp;ics=Kellbridge&amp;wave=2"' in html


def test_evidence_for_one_cell(ds, pub):
    rows = run_query(ds, "evidence_for", {"rq": "RQ3", "code": "", "ics": "Kellbridge", "wave": "2"})
    n = sql(pub, "SELECT count(*) FROM evidence WHERE rq = 'RQ3' AND ics = 'Kellbridge' AND wave = 2")[0][0]
    assert len(rows) == n > 0 and all(r["rq"] == "RQ3" for r in rows)
    code_id, code = sql(pub, "SELECT code_id, code FROM evidence WHERE rq = 'RQ3' AND ics = 'Kellbridge' AND wave = 2 LIMIT 1")[0]
    by_id = run_query(ds, "evidence_for", {"rq": "", "code": code_id, "ics": "Kellbridge", "wave": "2"})
    by_name = run_query(ds, "evidence_for", {"rq": "RQ3", "code": code, "ics": "Kellbridge", "wave": "2"})
    assert by_id == by_name and by_id and all(r["code"] == code for r in by_id)


def test_longitudinal_change_across_waves(ds, pub):
    rows = run_query(ds, "longitudinal", {"rq": "", "ics": "Saltmarsh Coast"})
    framework = {(c, w): n for c, w, n in sql(pub, "SELECT code_id, wave, excerpts FROM framework WHERE ics = 'Saltmarsh Coast'")}
    assert rows
    for row in rows:
        for wave in (1, 2, 3):
            assert row[f"wave {wave}"] == framework.get((row["code_id"], wave), 0)
        assert row["change w1→w3"] == row["wave 3"] - row["wave 1"]
    # each share is that wave's codings in the ICS, rounded to 0.1: together 100 within rounding
    wave_total = {w: sum(n for (_, fw), n in framework.items() if fw == w) for w in (1, 2, 3)}
    for row in rows:
        assert abs(row["wave 2 %"] - 100.0 * row["wave 2"] / wave_total[2]) <= 0.05 + 1e-9
    assert abs(sum(r["wave 2 %"] for r in rows) - 100) <= 0.05 * len(rows)


def test_cooccurrence(ds, pub):
    code = example_args(pub)["cooccurrence"]["code"]
    rows = run_query(ds, "cooccurrence", {"code": code, "ics": "", "wave": ""})
    other = rows[0]["code_b_id"]
    n = sql(pub, """SELECT count(DISTINCT a.excerpt_id) FROM evidence a JOIN evidence b ON a.excerpt_id = b.excerpt_id
                   WHERE a.code_id = ? AND b.code_id = ?""", code, other)[0][0]
    assert rows[0]["excerpts"] == n > 0
    pairs = run_query(ds, "cooccurrence", {"code": "", "ics": "Ashmoor", "wave": "1"})
    assert pairs and all(r["code_a_id"] < r["code_b_id"] for r in pairs)


def test_sources_consent_and_review_queue(ds, pub):
    rows = run_query(ds, "sources_by_ics", {"wave": ""})
    assert sum(r["sources"] for r in rows) == sql(pub, "SELECT count(*) FROM sources")[0][0]
    assert {r["ics"] for r in rows} >= {"Ashmoor", "Kellbridge", "Saltmarsh Coast"}
    consent = run_query(ds, "consent_counts", {})
    assert len(consent) == sql(pub, "SELECT count(*) FROM consent_summary")[0][0]
    assert all(isinstance(v, (int, type(None))) for r in consent for k, v in r.items() if k != "ics")  # counts only
    queue = run_query(ds, "review_queue", {"rq": "RQ4", "ics": ""})
    assert queue and all(r["rq"] == "RQ4" for r in queue)
    scores = [r["score"] for r in queue]
    assert scores == sorted(scores, reverse=True)
    suggested = {r[0] for r in sql(pub, "SELECT coding_id FROM evidence WHERE status = 'suggested'")}
    assert {r["coding_id"] for r in queue} <= suggested


def test_excerpt_context_shows_the_turns_around_it(ds, pub):
    excerpt = int(example_args(pub)["excerpt_context"]["excerpt_id"])
    rows = run_query(ds, "excerpt_context", {"excerpt_id": str(excerpt), "around": "2"})
    source, seq = sql(pub, "SELECT source_id, seq FROM excerpts WHERE id = ?", excerpt)[0]
    expected = [r[0] for r in sql(pub, "SELECT id FROM excerpts WHERE source_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                                  source, seq - 2, seq + 2)]
    assert [r["excerpt_id"] for r in rows] == expected
    assert [r["here"] for r in rows if r["excerpt_id"] == excerpt] == ["▶"]
    assert "interviewer" in {r["speaker_role"] for r in rows}  # the question it answers
    assert len(run_query(ds, "excerpt_context", {"excerpt_id": str(excerpt), "around": ""})) >= len(rows)


# --- presentation -----------------------------------------------------------------------------


def test_matched_terms_are_highlighted_from_the_offsets(ds, pub):
    coding_id, text, offsets, colour = sql(
        pub, "SELECT coding_id, text, offsets, colour FROM evidence WHERE quotable = 1 AND offsets != '[]' "
        "AND text NOT LIKE '%<%' AND text NOT LIKE '%&%' LIMIT 1")[0]
    start, end = json.loads(offsets)[0]
    html = get(ds, f"/study/evidence/{coding_id}").text
    assert f'<mark class="cs-term" style="--cs-colour: {colour}">{text[start:end]}</mark>' in html
    page = get(ds, f"/study/evidence?coding_id={coding_id}").text
    assert f'<mark class="cs-term" style="--cs-colour: {colour}">{text[start:end]}</mark>' in page
    excerpt = sql(pub, "SELECT excerpt_id FROM evidence WHERE coding_id = ?", coding_id)[0][0]
    assert f'href="/study/excerpt_context?excerpt_id={excerpt}&amp;around=3"' in page
    assert f'class="cs-swatch" style="background: {colour}"' in page  # code colours


def test_withheld_quotes_are_shown_as_withheld(ds, pub):
    rows = sql(pub, "SELECT coding_id, text FROM evidence WHERE quotable = 0 LIMIT 1")
    assert rows, "the sample study has a participant who refused quotation"
    html = get(ds, f"/study/evidence?coding_id={rows[0][0]}").text
    assert '<span class="cs-withheld">[withheld' in html


def test_render_escapes_html_and_ignores_bad_offsets():
    from casestudy.browse.plugin import highlight

    assert str(highlight("a <b> c", "[[2, 5]]")) == 'a <mark class="cs-term">&lt;b&gt;</mark> c'
    assert str(highlight("short", "[[0, 99], [3, 1]]")) == "short"
    assert str(highlight("x", "not json")) == "x"
    assert "javascript" not in str(highlight("ab", "[[0,1]]", colour="red;background:url(javascript:1)"))


# --- consent and the publish file -----------------------------------------------------------------


def test_withdrawn_participants_never_appear(ds, pub):
    assert sql(pub, "SELECT count(*) FROM evidence WHERE participant_id = 'P09'")[0][0] == 0
    data = get_json(ds, "/study/evidence.json?participant_id=P09")
    assert data["filtered_table_rows_count"] == 0
    search = get_json(ds, "/study/excerpts.json?_search=" + httpx.QueryParams({"q": '"orange folder"'})["q"])
    assert search["filtered_table_rows_count"] == 0
    assert P09_CANARY not in get(ds, "/study/evidence?_search=orange").text


def test_a_withdrawal_reaches_the_running_server(served_study, tmp_path):
    """The publish file is replaced after a withdrawal: the server must switch to it at once."""
    work = tmp_path / "work.db"
    source, copy = sqlite3.connect(served_study[0]), sqlite3.connect(work)
    source.backup(copy)  # through the write-ahead log (a file copy can miss what is still in it)
    source.close(), copy.close()
    pub = serve.default_publish_path(work)
    serve.ensure_publish_db(work, pub, echo=lambda _: None)
    ds = serve.build_datasette(pub)
    before = get_json(ds, "/study/evidence.json?participant_id=P10")["filtered_table_rows_count"]
    assert before > 0
    result = CliRunner().invoke(cli, ["consent", "withdraw", "P10", "--db", str(work)])
    assert result.exit_code == 0, result.output
    assert get_json(ds, "/study/evidence.json?participant_id=P10")["filtered_table_rows_count"] == 0
    assert get_json(ds, "/study/evidence.json?_facet_size=max")["facet_results"]["participant_role"]
    rows = run_query(ds, "framework_matrix", {"rq": ""})
    assert sum(r["total"] for r in rows) == sql(pub, "SELECT count(DISTINCT excerpt_id || '-' || rq) FROM evidence")[0][0]


def test_prepare_publish_db_is_idempotent(pub):
    assert serve.prepare_publish_db(pub) == []
    names = {r[0] for r in sql(pub, "SELECT name FROM sqlite_master")}
    assert {"idx_evidence_by_rq", "evidence_facet_counts", "evidence_facet_cube", "cooccurrence"} <= names


def test_serve_needs_a_working_or_publish_database(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "casestudy demo" in result.output and "Traceback" not in result.output


# --- the password rule ---------------------------------------------------------------------------


def test_refuses_a_non_local_host_without_a_password(served_study, monkeypatch):
    monkeypatch.delenv(serve.PASSWORD_ENV, raising=False)
    work, pub = served_study
    before = pub.stat().st_mtime_ns
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--db", str(work)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "needs a password" in lines[0] and "--hash-password" in lines[0]
    assert pub.stat().st_mtime_ns == before
    with pytest.raises(CasestudyError):
        serve.check_host("192.168.1.20", None)
    serve.check_host("127.0.0.1", None)
    serve.check_host("localhost", None)
    with pytest.raises(CasestudyError, match="not a hash"):
        serve.check_host("0.0.0.0", "secret")


def test_refuses_a_non_local_host_without_tls(served_study, monkeypatch):
    """A password over plain HTTP crosses the network in clear: refused unless HTTPS or a stated proxy."""
    from casestudy.browse.serve import hash_password

    monkeypatch.delenv(serve.PASSWORD_ENV, raising=False)
    work, pub = served_study
    before = pub.stat().st_mtime_ns
    hashed = hash_password("open sesame")
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--password-hash", hashed, "--db", str(work)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "clear text" in lines[0] and "--certfile" in lines[0] and "--behind-tls-proxy" in lines[0]
    assert pub.stat().st_mtime_ns == before
    serve.check_host("10.1.2.3", hashed, tls=True)
    serve.check_host("10.1.2.3", hashed, behind_tls_proxy=True)
    half = CliRunner().invoke(cli, ["serve", "--certfile", str(pub), "--db", str(work)])
    assert half.exit_code == 1 and "both --certfile and --keyfile" in half.output
    missing = CliRunner().invoke(cli, ["serve", "--certfile", str(pub), "--keyfile", str(pub) + ".nope", "--db", str(work)])
    assert missing.exit_code == 1 and "no such file" in missing.output and len(missing.output.strip().splitlines()) == 1


def test_hash_password_helper():
    from datasette_auth_passwords.utils import verify_password

    result = CliRunner().invoke(cli, ["serve", "--hash-password"], input="open sesame\nopen sesame\n")
    assert result.exit_code == 0
    hashed = result.output.strip().splitlines()[-1]
    assert hashed.startswith("pbkdf2_sha256$") and verify_password("open sesame", hashed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, auth=None, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return httpx.get(url, auth=auth, timeout=60)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"server did not start at {url}")


def start_server(args, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "casestudy", "serve", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})},
    )


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def test_serves_on_any_host_with_a_password_and_only_to_it(served_study):
    from casestudy.browse.serve import hash_password

    work, pub = served_study
    port = free_port()
    process = start_server(["--host", "0.0.0.0", "--port", str(port), "--behind-tls-proxy",
                            "--db", str(work), "--publish-db", str(pub)],
                           env={serve.PASSWORD_ENV: hash_password("open sesame")})
    try:
        first = wait_for(f"http://127.0.0.1:{port}/")
        assert first.status_code == 401  # nothing without the password: pages, JSON, SQL, search
        for path in ("/study/evidence.json", "/study.json?sql=select+*+from+excerpts", "/study/excerpts?_search=board"):
            assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=60).status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/", auth=("team", "wrong"), timeout=60).status_code == 401
        ok = httpx.get(f"http://127.0.0.1:{port}/study/evidence.json", auth=("team", "open sesame"), timeout=60)
        assert ok.status_code == 200 and ok.json()["filtered_table_rows_count"] > 0
    finally:
        stop(process)


def _self_signed(folder):
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_serves_https_with_a_certificate_and_keeps_the_hash_out_of_every_page(served_study, tmp_path):
    from casestudy.browse.serve import hash_password

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    work, pub = served_study
    cert, key = _self_signed(tmp_path)
    hashed = hash_password("open sesame")
    port = free_port()
    process = start_server(["--host", "0.0.0.0", "--port", str(port), "--certfile", str(cert), "--keyfile", str(key),
                            "--db", str(work), "--publish-db", str(pub)], env={serve.PASSWORD_ENV: hashed})
    auth = ("team", "open sesame")
    try:
        base = f"https://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                first = httpx.get(base + "/", verify=False, timeout=60)
                break
            except httpx.TransportError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        assert first.status_code == 401
        with pytest.raises(httpx.TransportError):  # no plain HTTP on that port
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        secret = hashed.split("$")[-1]
        for path in ("/", "/-/metadata.json", "/-/plugins.json", "/-/settings.json", "/-/config.json",
                     "/-/actor.json", "/study", "/study/evidence.json", "/-/versions.json"):
            response = httpx.get(base + path, auth=auth, verify=False, timeout=60)
            assert secret not in response.text and hashed not in response.text, path
        assert httpx.get(base + "/study/evidence.json", auth=auth, verify=False, timeout=60).status_code == 200
    finally:
        stop(process)


def test_serve_command_runs_on_localhost(served_study):
    work, pub = served_study
    port = free_port()
    process = start_server(["--port", str(port), "--db", str(work), "--publish-db", str(pub)],
                           env={serve.PASSWORD_ENV: ""})
    try:
        response = wait_for(f"http://127.0.0.1:{port}/study/framework_matrix.json?rq=&_shape=objects")
        assert response.status_code == 200 and len(response.json()["rows"]) == 6
    finally:
        stop(process)
    output = process.stdout.read()
    assert f"http://127.0.0.1:{port}/" in output and "up to date" in output


# --- the excerpt-level evidence (issue 11) ------------------------------------------------------

import html as html_lib  # noqa: E402
import re  # noqa: E402

EXCERPT_FACETS = ["rqs", "codes", "ics", "collaborative", "wave", "source_kind", "org_type", "participant_role", "status"]


def links(page: str, pattern: str = r'<a class="cs-cell" href="([^"]+)"[^>]*>([\d.]+)</a>'):
    """(url, number) of every linked number on a page."""
    return [(html_lib.unescape(href), float(n)) for href, n in re.findall(pattern, page)]


def test_excerpt_evidence_is_one_row_per_excerpt_with_its_codes(ds, pub):
    data = get_json(ds, "/study/excerpt_evidence.json?_shape=objects&_size=max")
    assert data["filtered_table_rows_count"] == sql(pub, "SELECT count(DISTINCT excerpt_id) FROM evidence")[0][0]
    assert [c for c in data["columns"][:4]] == ["excerpt_id", "text", "attribution", "codes"]  # the quote and who first
    row = data["rows"][0]
    codes = sql(pub, "SELECT code_id, status FROM evidence WHERE excerpt_id = ?", row["excerpt_id"])
    assert sorted(json.loads(row["codes"])) == sorted(c for c, _ in codes)
    page = get(ds, f"/study/excerpt_evidence?excerpt_id={row['excerpt_id']}").text
    for code_id, status in codes:
        name = sql(pub, "SELECT name FROM codes WHERE id = ?", code_id)[0][0]
        assert html_lib.escape(name) in page
    assert 'class="cs-swatch" style="background: #' in page and '<span class="cs-status">suggested</span>' in page
    assert "Director of Strategy" not in row["attribution"] or row["attribution"].startswith("P")
    # the technical columns are there, one click away ("Show technical columns": casestudy.js)
    assert '"technical": ["participant_id", "quotable", "table_like", "n_codes", "best_score", "codings"' in page
    assert "/casestudy-static/casestudy.js" in page


def test_a_matrix_number_equals_the_rows_its_link_opens(ds, pub):
    checked = 0
    for rq in ("", "RQ3"):
        page = get(ds, f"/study/framework_matrix?rq={rq}").text
        found = links(page)
        assert len(found) > 20
        for url, number in found[:: max(1, len(found) // 25)]:
            assert url.startswith("/study/excerpt_evidence?")
            data = get_json(ds, url.replace("/study/excerpt_evidence?", "/study/excerpt_evidence.json?") + "&_size=0")
            assert data["filtered_table_rows_count"] == number, url
            checked += 1
    assert checked > 40


def test_every_number_on_change_and_cooccurrence_pages_links_to_its_excerpts(ds, pub):
    code = example_args(pub)["cooccurrence"]["code"]
    for page_url in ("/study/longitudinal?rq=RQ4&ics=Kellbridge", f"/study/cooccurrence?code={code}&ics=&wave=2"):
        page = get(ds, page_url).text
        found = links(page, r'<a class="cs-cell" href="([^"]+)" title="Read the excerpts behind this number">([\d.]+)</a>')
        assert found, page_url  # (a wave's share links to the same excerpts as its count, with another title)
        assert len(links(page)) > len(found) or "cooccurrence" in page_url
        for url, number in found[:30]:
            data = get_json(ds, url.replace("/study/excerpt_evidence?", "/study/excerpt_evidence.json?") + "&_size=0")
            assert data["filtered_table_rows_count"] == number, url
        text = re.sub(r"<[^>]+>", " ", page)
        assert not re.search(r"#[0-9a-fA-F]{6}\b", text), page_url  # colours as swatches, never hex as text


@pytest.mark.parametrize("query, where, args", [
    ("", "1", ()),
    ("wave=2", "wave = 2", ()),
    ("rqs__arraycontains=RQ4&ics=Ashmoor", "ics = 'Ashmoor' AND EXISTS (SELECT 1 FROM json_each(rqs) WHERE value = 'RQ4')", ()),
    ("_search=delegat*", "excerpt_id IN (SELECT rowid FROM excerpt_evidence_fts WHERE excerpt_evidence_fts MATCH '\"delegat\"*')", ()),
])
def test_excerpt_facets_are_exact_labelled_and_in_a_fixed_order(ds, pub, query, where, args):
    data = get_json(ds, f"/study/excerpt_evidence.json?{query}&_facet_size=max&_size=0")
    assert list(data["facet_results"]) == EXCERPT_FACETS  # the same order on every page
    for name in EXCERPT_FACETS:
        if name in ("rqs", "codes"):
            expected = dict(sql(pub, f"SELECT j.value, count(*) FROM excerpt_evidence, json_each({name}) j WHERE {where} "
                                     "GROUP BY j.value", *args))
        else:
            expected = dict(sql(pub, f"SELECT {name}, count(*) FROM excerpt_evidence WHERE ({where}) AND {name} IS NOT NULL "
                                     f"GROUP BY {name}", *args))
        assert facet_counts(data, name) == expected, (query, name)
    waves = [v["value"] for v in data["facet_results"]["wave"]["results"]]
    assert waves == sorted(waves)  # numeric order, not by count
    labels = {v["value"]: v["label"] for v in data["facet_results"]["wave"]["results"]}
    assert all(labels[w] == f"wave {w} ({2023 + w})" for w in waves)
    page = get(ds, f"/study/excerpt_evidence?{query}").text
    heads = re.findall(r'<p class="facet-info-name">\s*<strong>([^<]+?)\s*<span', page)
    assert heads[:5] == ["Research question", "Code", "ICS", "Collaborative", "Wave"]
    assert "participant_role" not in " ".join(heads) and "Organisation type" in heads


def test_search_prefix_phrase_relevance_and_highlight(ds, pub):
    # a prefix finds the words that begin so (the index does not stem)
    rows = run_query(ds, "search", {"q": "delegat*", "rq": "", "ics": "", "wave": ""})
    n = sql(pub, "SELECT count(*) FROM excerpt_evidence_fts WHERE excerpt_evidence_fts MATCH '\"delegat\"*'")[0][0]
    assert len(rows) == min(n, 200) and n > 10
    words = {w.lower() for r in rows for w in re.findall(r"\x02(.*?)\x03", r["text"])}
    assert {"delegated", "delegation"} <= words and all(w.startswith("delegat") for w in words)
    # ordered by relevance (FTS5 rank), not by id
    ranked = [r[0] for r in sql(pub, "SELECT rowid FROM excerpt_evidence_fts WHERE excerpt_evidence_fts MATCH "
                                     "'\"delegat\"*' ORDER BY rank LIMIT 200")]
    assert [r["excerpt_id"] for r in rows] == ranked != sorted(ranked)
    # a phrase matches the words together, in order
    phrase = run_query(ds, "search", {"q": '"lead provider"', "rq": "RQ4", "ics": "", "wave": "2"})
    assert phrase and all(re.search(r"lead\W+provider", re.sub(r"[\x02\x03]", "", r["text"]).lower()) for r in phrase)
    assert all(r["wave"] == 2 for r in phrase)
    # searched words are highlighted on the page
    page = get(ds, "/study/search?q=delegat*&rq=&ics=&wave=").text
    assert '<mark class="cs-hit">delegated</mark>' in page.replace("Delegated", "delegated")
    # the table's own search box: prefixes work there too; bad FTS syntax is not an error
    table = get_json(ds, "/study/excerpt_evidence.json?_search=delegat*&_size=0")
    assert table["filtered_table_rows_count"] == n
    for odd in ('"unbalanced', "AND", "a*b", "*", 'NEAR("x"'):
        assert get(ds, "/study/excerpt_evidence.json?" + str(httpx.QueryParams({"_search": odd}))).status_code == 200, odd


def test_escape_fts_keeps_prefixes_and_phrases():
    from casestudy.browse.plugin import escape_fts

    assert escape_fts("delegat*") == '"delegat"*'
    assert escape_fts('"lead provider" budget') == '"lead provider" "budget"'
    assert escape_fts('"lead prov"* x') == '"lead prov"* "x"'
    assert escape_fts('"unbalanced') == '"unbalanced"'
    assert escape_fts("OR NOT") == '"OR" "NOT"'  # operators are words, never syntax
    assert escape_fts("* **") == '""'  # matches nothing, no syntax error


def test_empty_results_and_pages_that_do_not_exist(ds, pub):
    page = get(ds, "/study/excerpt_evidence?ics=nowhere").text
    assert "0 rows" in page
    before_details = page.split('<details class="cs-schema">')[0]
    assert "CREATE TABLE" not in before_details  # the schema is one click away, not the page's content
    response = get(ds, "/study/no_such_table")
    assert response.status_code == 404 and "Table not found" in response.text


def test_a_404_prints_no_traceback_in_the_servers_terminal(served_study):
    work, pub = served_study
    port = free_port()
    process = start_server(["--port", str(port), "--db", str(work), "--publish-db", str(pub)], env={serve.PASSWORD_ENV: ""})
    try:
        assert wait_for(f"http://127.0.0.1:{port}/").status_code == 200
        for path in ("/study/no_such_table", "/nothing/at/all", "/study/evidence/999999999"):
            assert httpx.get(f"http://127.0.0.1:{port}{path}").status_code == 404
    finally:
        stop(process)
    output = process.stdout.read()
    assert "Traceback" not in output and "NotFound" not in output
    assert len(output.strip().splitlines()) <= 3, output[:2000]


def test_row_page_and_query_pages_are_styled_to_fit(ds, pub):
    css = get(ds, "/casestudy-static/casestudy.css").text
    assert "body.row table.rows-and-columns td" in css and "attr(data-label)" in css
    js = get(ds, "/casestudy-static/casestudy.js")
    assert js.status_code == 200 and "cs-hide-tech" in js.text and "cs-hit" in js.text


# --- disclosure control in what is served ----------------------------------------------------------


def test_withheld_quotations_do_not_say_whose_they_are(ds, pub):
    withheld = get_json(ds, "/study/evidence.json?quotable=0&_shape=objects&_size=max")["rows"]
    assert withheld, "the sample study has a participant who refused quotation"
    assert {(r["participant_id"], r["participant_role"], r["org_type"]) for r in withheld
            if r["text"].startswith("[withheld: participant")} == {(None, None, None)}
    assert "P12" not in {r[0] for r in sql(pub, "SELECT id FROM participants")}
    assert not sql(pub, "SELECT 1 FROM sources WHERE participant_id = 'P12' OR title LIKE '%P12%'")
    assert not sql(pub, "SELECT 1 FROM excerpts WHERE participant_id = 'P12'")
    assert not sql(pub, "SELECT 1 FROM excerpt_evidence WHERE participant_id = 'P12' OR attribution LIKE '%P12%'")
    page = get(ds, "/study/excerpt_evidence?quotable=0").text
    assert "withheld participant" in page and "Chief Officer" not in page


def test_self_identifying_phrases_are_generalised(ds, pub):
    generalised = sql(pub, "SELECT count(*) FROM excerpts WHERE text LIKE '%[own post withheld]%'")[0][0]
    assert generalised >= 5
    assert not sql(pub, "SELECT 1 FROM excerpts WHERE text LIKE '%I''m still Programme Director for%'")
    rules = get_json(ds, "/study/disclosure.json?_shape=objects&_size=max")["rows"]
    assert {r["action"] for r in rules} <= {"generalise", "flag"} and len(rules) >= generalised


def test_the_evidence_facet_rewrite_is_pinned_to_the_datasette_it_was_written_for(pub):
    """plugin.CasestudyDatasette rewrites Datasette 0.65's own facet SQL for speed. A Datasette whose
    SQL differs would silently fall back (slow) or worse: fail here, loudly, instead."""
    import datasette

    assert datasette.__version__.startswith("0.65."), "re-check casestudy/browse/plugin.py against this Datasette"
    ds = serve.build_datasette(pub)
    assert ds.facet_rewrites == {"unfiltered": 0, "filtered": 0}
    get_json(ds, "/study/evidence.json")
    assert ds.facet_rewrites["unfiltered"] == len(FACETS)  # every default facet answered from evidence_facet_counts
    get_json(ds, "/study/evidence.json?wave=2")
    get_json(ds, "/study/evidence.json?_search=delegated&ics=Kellbridge")
    assert ds.facet_rewrites["filtered"] == 2 * len(FACETS)  # from the facet cube, then one shared count


def test_review_queue_never_puts_a_flattened_table_first(ds, pub):
    """Run-on table text ("Total RTT waiting list 136,000 142,300 Worsening …") is rarely evidence."""
    exercised = 0  # queues in which, by score alone, a table row would come before prose the queue shows
    for rq in ("", "RQ1", "RQ2", "RQ3", "RQ4", "RQ5", "RQ6"):
        rows = run_query(ds, "review_queue", {"rq": rq, "ics": ""})
        flags = [sql(pub, "SELECT table_like FROM excerpt_evidence WHERE excerpt_id = ?", r["excerpt_id"])[0][0] for r in rows]
        assert flags == sorted(flags) and flags[:50] == [0] * min(50, flags.count(0)), rq
        if 0 not in flags:
            continue
        lowest_shown = min(r["score"] for r, flag in zip(rows, flags) if not flag)
        exercised += sql(pub, """SELECT count(*) FROM evidence e JOIN excerpt_evidence x USING (excerpt_id)
                                 WHERE e.status = 'suggested' AND x.table_like = 1 AND e.score > ?
                                   AND (? = '' OR e.rq = ?)""", lowest_shown, rq, rq)[0][0] > 0
    assert exercised > 0  # else the demo data would not show that the rule, not the score, keeps tables last
    assert sql(pub, "SELECT count(*) FROM excerpt_evidence WHERE table_like = 1 AND text LIKE '%waiting list%'")[0][0]

"""`casestudy workspace` over real HTTP (a real server process, real SQLite): who codes (login =
coder, passwords off 127.0.0.1), CSRF on every POST, consent (withdrawal at once, no raw name,
not-quotable marks), several researchers at once losing nothing, and blind double-coding by two
logins with kappa and alpha checked against independent computations."""

from __future__ import annotations

import html
import os
import re
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from casestudy import db as dblib
from casestudy.cli.main import cli
from casestudy.consent import pseudonyms, register
from test_agreement import alpha_by_definition
from workspace_server import Client, copy_db, q, start, stop


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(workspace_template, tmp_path_factory):
    path = copy_db(workspace_template, tmp_path_factory.mktemp("ws-http"))
    # the system user name must never be recorded: only the login
    process, base = start(path, env={"CASESTUDY_CODER": "system-user"})
    try:
        yield base, path
    finally:
        stop(process)


def transcript_of(path, pid):
    return q(path, "SELECT id FROM sources WHERE participant_id = ? ORDER BY id LIMIT 1", pid)[0][0]


def test_the_login_is_the_coder_on_every_decision(server):
    base, path = server
    anonymous = Client(base, "")
    assert anonymous.login_response.status_code == 400
    assert anonymous.get("/").status_code == 303
    assert anonymous.act("/api/undo").status_code == 401
    for bad in ("auto:v1", "learned:x"):
        assert Client(base, bad).login_response.status_code == 400
    ann = Client(base, "ann")
    assert ann.login_response.status_code == 303
    source = transcript_of(path, "P01")
    first = ann.suggestion_ids(source)[0]
    response = ann.act("/api/decide", coding_id=first, decision="accept")
    assert response.status_code == 200, response.text
    assert q(path, "SELECT reviewed_by, status FROM codings WHERE id = ?", first) == [("ann", "accepted")]
    assert q(path, "SELECT decider, action FROM decisions WHERE coding_id = ?", first) == [("ann", "accept")]
    assert q(path, "SELECT actor FROM audit_log WHERE action = 'coding.accept' AND target = ?", str(first)) == [("ann",)]
    assert q(path, "SELECT count(*) FROM audit_log WHERE actor = 'system-user'") == [(0,)]
    # the CLI and the workspace write the same provenance
    assert ann.act("/api/undo").status_code == 200
    assert q(path, "SELECT status, reviewed_by FROM codings WHERE id = ?", first) == [("suggested", None)]


def test_each_chip_says_what_carried_its_suggestion(server):
    """A suggestion's chip names what carried it: a theme's matched words, its research
    question's key terms, or the learned model's top words."""
    base, path = server
    ann = Client(base, "ann")
    kinds = {
        "matched": "c.coder LIKE 'auto:%' AND c.code_id != cd.rq",
        "key terms": "c.coder LIKE 'auto:%' AND c.code_id = cd.rq",
        "model's top words": "c.coder LIKE 'learned:%'",
    }
    for label, where in kinds.items():
        found = q(path, f"""SELECT c.id, e.source_id FROM codings c JOIN codes cd ON cd.id = c.code_id
                            JOIN excerpts e ON e.id = c.excerpt_id JOIN sources s ON s.id = e.source_id
                            LEFT JOIN consents cs ON cs.participant_id = e.participant_id
                            WHERE {where} AND c.status = 'suggested' AND c.terms != '[]'
                              AND (s.kind != 'transcript' OR (cs.interview = 1 AND cs.withdrawn_date IS NULL))
                            ORDER BY c.id LIMIT 1""")
        assert found, label
        coding_id, source_id = found[0]
        page = ann.get(f"/source/{source_id}").text
        chip = re.search(rf'data-coding="{coding_id}".*?<span class="ws-why">([^<]*)</span>', page, re.S)
        assert chip and html.unescape(chip.group(1)).startswith(f"{label}: "), (label, chip and chip.group(1))
        if label == "key terms":  # a chip for the question itself names it once, beside its badge
            badge = re.search(rf'data-coding="{coding_id}".*?<span class="ws-rq">(RQ\d)</span>([^<]*)<', page, re.S)
            assert badge and badge.group(2).strip() and not badge.group(2).strip().startswith(badge.group(1)), badge and badge.groups()
    ann.close()


def test_why_says_for_each_question_why_it_was_or_was_not_suggested(server):
    """The "Why?" button's answer: one row per research question, the suggested ones marked,
    read only, never for an interviewer turn, a withdrawn participant or a stranger."""
    base, path = server
    ann = Client(base, "ann")
    coding_id, excerpt_id, rq = q(path, """SELECT c.id, c.excerpt_id, cd.rq FROM codings c JOIN codes cd ON cd.id = c.code_id
                                          JOIN excerpts e ON e.id = c.excerpt_id
                                          WHERE c.status = 'suggested' AND e.participant_id = 'P01' ORDER BY c.id LIMIT 1""")[0]
    before = q(path, "SELECT count(*) FROM audit_log")
    response = ann.get(f"/api/why/{excerpt_id}")
    assert response.status_code == 200, response.text
    answer = response.json()["why_html"]
    rows = re.findall(r'<tr class="(ws-why\w+)">\s*<th scope="row">(RQ\d)</th>', answer)
    assert [r for _, r in rows] == ["RQ1", "RQ2", "RQ3", "RQ4", "RQ5", "RQ6"], answer
    assert dict((r, c) for c, r in rows)[rq] == "ws-whyyes"
    assert "judged as it was coded" in answer
    assert q(path, "SELECT count(*) FROM audit_log") == before
    page = ann.get(f"/source/{transcript_of(path, 'P01')}").text
    assert f'id="e{excerpt_id}"' in page and 'data-act="why"' in page
    interviewer = q(path, "SELECT id FROM excerpts WHERE is_interviewer = 1 LIMIT 1")[0][0]
    refused = ann.get(f"/api/why/{interviewer}")
    assert refused.status_code == 400 and "interviewer turn" in refused.json()["error"]
    withdrawn = q(path, """SELECT e.id FROM excerpts e JOIN consents cs ON cs.participant_id = e.participant_id
                           WHERE cs.withdrawn_date IS NOT NULL AND e.is_interviewer = 0 LIMIT 1""")
    for (hidden,) in withdrawn:
        assert ann.get(f"/api/why/{hidden}").status_code == 400
    assert Client(base, "").get(f"/api/why/{excerpt_id}").status_code == 401
    ann.close()


def test_the_agreement_page_shows_how_the_suggestions_fared(server):
    """The scorecard under the agreement table: per RQ what `review scorecard` computes."""
    from casestudy.coding import scorecard

    base, path = server
    ann = Client(base, "ann")
    excerpt_id = q(path, """SELECT c.excerpt_id FROM codings c JOIN excerpts e ON e.id = c.excerpt_id
                            WHERE c.status = 'suggested' AND e.participant_id = 'P01' ORDER BY c.id LIMIT 1""")[0][0]
    for (coding_id,) in q(path, "SELECT id FROM codings WHERE excerpt_id = ? AND status = 'suggested'", excerpt_id):
        assert ann.act("/api/decide", coding_id=coding_id, decision="accept").status_code == 200
    page = ann.get("/agreement").text
    db = dblib.open_db(path)
    card = scorecard.compute(db)
    db.close()
    assert card.reviewed >= 1
    table = re.search(r'<table class="ws-table" id="scorecard-table">.*?</table>', page, re.S).group(0)
    for s in card.by_rq:
        row = re.search(rf"<tr><th>{s.rq}</th>(.*?)</tr>", table, re.S).group(1)
        assert re.findall(r'<td class="n">([^<]*)</td>', row)[:3] == [str(s.agreed), str(s.false_alarms), str(s.missed)]
    assert f"On the {card.reviewed} excerpt(s)" in page
    ann.close()


def test_why_judges_with_the_codebook_the_workspace_was_given(workspace_template, tmp_path):
    """`casestudy workspace --codebook DIR`: "Why?" judges with that codebook (here one the
    study was not coded with, so it says so), not the project's."""
    import shutil

    book = tmp_path / "codebook"
    shutil.copytree(REPO / "codebook", book)
    rq6 = book / "rq6-outcomes.yaml"
    rq6.write_text(rq6.read_text(encoding="utf-8").replace("key_terms: [", "key_terms: [throughput, ", 1), encoding="utf-8")
    from casestudy.coding import codebook

    version = codebook.load(book).version
    path = copy_db(workspace_template, tmp_path / "db")
    excerpt_id = q(path, "SELECT excerpt_id FROM codings WHERE status = 'suggested' ORDER BY id LIMIT 1")[0][0]
    process, base = start(path, "--codebook", str(book))
    try:
        ann = Client(base, "ann")
        answer = ann.get(f"/api/why/{excerpt_id}").json()["why_html"]
        assert f"not yet coded with codebook {version}" in answer, answer
        ann.close()
    finally:
        stop(process)


def test_every_post_needs_the_csrf_token(server):
    base, path = server
    ann = Client(base, "ann")
    source = transcript_of(path, "P01")
    first = ann.suggestion_ids(source)[0]
    before = q(path, "SELECT count(*) FROM decisions")
    forged = ann.http.post("/api/decide", json={"coding_id": first, "decision": "reject"})
    assert forged.status_code == 403
    forged_form = ann.http.post("/api/decide", data={"coding_id": first, "decision": "reject", "csrftoken": "x"})
    assert forged_form.status_code == 403
    logout = ann.http.post("/logout", data={})
    assert logout.status_code == 403
    assert q(path, "SELECT count(*) FROM decisions") == before


def test_consent_withdrawal_names_and_quotation(server):
    base, path = server
    ann = Client(base, "ann")
    # a raw name in the text is never rendered: the display text has the pseudonym
    db = dblib.open_db(path)
    excerpt_id, text = db.execute(
        "SELECT id, text FROM excerpts WHERE participant_id = 'P03' AND is_interviewer = 0 ORDER BY id LIMIT 1").fetchone()
    with db.atomic():
        db.execute("UPDATE excerpts SET text = ? WHERE id = ?", ["As Amina Shah told the board, " + text, excerpt_id])
        pseudonyms.refresh_display_text(db)
    p03 = transcript_of(path, "P03")
    memo = ann.act("/api/memo", excerpt_id=excerpt_id, text="Amina Shah repeats the point about Tom Reed")
    assert memo.status_code == 200
    page = ann.get(f"/source/{p03}").text
    assert "[P03] told the board" in re.sub(r"<[^>]+>", "", page)
    for name in ("Amina Shah", "Tom Reed", "Helen Marsh", "Grace Lin"):
        assert name not in page
        assert name not in memo.text
    # refused quotation: codable, marked not quotable
    p02 = ann.get(f"/source/{transcript_of(path, 'P02')}").text
    assert "not quotable" in p02 and "ws-suggested" in p02
    # a withdrawn participant disappears at once, pages and actions
    p01 = transcript_of(path, "P01")
    p01_excerpt = q(path, "SELECT id FROM excerpts WHERE source_id = ? AND is_interviewer = 0 LIMIT 1", p01)[0][0]
    assert ann.get(f"/source/{p01}").status_code == 200
    with db.atomic():
        register.withdraw(db, "P01", "2026-01-01", actor="lead")
    db.close()
    assert ann.get(f"/source/{p01}").status_code == 404
    assert f'href="/source/{p01}"' not in ann.get("/").text
    refused = ann.act("/api/add", excerpt_id=p01_excerpt, code_id="RQ6.quality-of-care")
    assert refused.status_code == 400 and "consent" in refused.json()["error"]
    assert ann.get(f"/excerpt/{p01_excerpt}").status_code == 404


def test_several_researchers_at_once_lose_no_decision(server):
    base, path = server
    excerpts = [r[0] for r in q(path, """SELECT e.id FROM excerpts e JOIN sources s ON s.id = e.source_id
                                          WHERE e.is_interviewer = 0 AND s.kind != 'transcript' ORDER BY e.id""")][:6]
    themes = [r[0] for r in q(path, "SELECT id FROM codes WHERE codable = 1 ORDER BY rq, sort LIMIT 5")]
    people = ["r1", "r2", "r3", "r4"]
    clients = {p: Client(base, p) for p in people}
    failures = []

    def work(person):
        for e in excerpts:
            for t in themes:
                response = clients[person].act("/api/add", excerpt_id=e, code_id=t)
                if response.status_code != 200:
                    failures.append((person, e, t, response.status_code, response.text[:200]))

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    expected = len(excerpts) * len(themes)
    for p in people:
        assert q(path, "SELECT count(*) FROM decisions WHERE decider = ? AND undone_at IS NULL", p) == [(expected,)]
        assert q(path, "SELECT count(*) FROM audit_log WHERE actor = ?", p)[0][0] == expected
    # every (excerpt, theme) accepted once at least, by one of the four
    accepted = q(path, f"""SELECT count(DISTINCT excerpt_id || code_id) FROM codings WHERE status = 'accepted'
                           AND excerpt_id IN ({','.join(map(str, excerpts))}) AND code_id IN ({','.join('?' * len(themes))})""",
                 *themes)
    assert accepted == [(expected,)]


@pytest.fixture
def own_server(workspace_template, tmp_path):
    path = copy_db(workspace_template, tmp_path / "db")
    process, base = start(path)
    try:
        yield base, path
    finally:
        stop(process)


def test_blind_double_coding_by_two_logins(own_server):
    """Two researchers code the same blind sample; the agreement page's kappa and alpha equal
    scikit-learn's kappa and alpha by its definition, computed here from what they coded."""
    base, path = own_server
    ann, bob = Client(base, "ann"), Client(base, "bob")
    assigned = ann.http.post("/samples", data={"csrftoken": ann.token, "coders": "ann, bob", "size": "6", "seed": "7",
                                               "kind": "transcript", "blind": "1", "name": "reliability 1"})
    assert assigned.status_code == 200 and "Assigned 6 excerpts to ann, bob" in assigned.text
    sample = [r[0] for r in q(path, "SELECT excerpt_id FROM assignments WHERE sample = 'reliability 1' AND coder = 'ann' ORDER BY excerpt_id")]
    assert len(sample) == 6
    themes = ["RQ3.committees-in-common", "RQ4.risk-gain-share", "RQ6.quality-of-care"]
    plan = {
        "ann": [{themes[0]}, {themes[0], themes[1]}, set(), {themes[2]}, {themes[1]}, set()],
        "bob": [{themes[0]}, {themes[1]}, {themes[2]}, {themes[2]}, set(), {themes[1]}],
    }
    for client in (ann, bob):
        for excerpt_id, codes in zip(sample, plan[client.name]):
            source = q(path, "SELECT source_id FROM excerpts WHERE id = ?", excerpt_id)[0][0]
            page = client.get(f"/source/{source}").text
            block = re.search(rf'<article[^>]*id="e{excerpt_id}".*?</article>', page, re.S).group(0)
            # blind: no suggestions, no highlighted matches, no one else's codes
            assert "ws-blind" in block and "ws-suggested" not in block and "ws-term" not in block
            other = "bob" if client.name == "ann" else "ann"
            assert f'<span class="ws-by">{other}' not in block
            for code in codes:
                response = client.act("/api/add", excerpt_id=excerpt_id, code_id=code)
                assert response.status_code == 200, response.text
            assert client.act("/api/finish", excerpt_id=excerpt_id, done=1).status_code == 200
    # nor ask why the coder suggested what it did, while coding blind
    assert ann.get(f"/api/why/{sample[0]}").status_code == 400
    # a blind coder cannot decide a suggestion on a blind excerpt
    hidden = q(path, f"SELECT id FROM codings WHERE coder LIKE 'auto:%' AND excerpt_id IN ({','.join(map(str, sample))}) LIMIT 1")
    if hidden:
        assert ann.act("/api/decide", coding_id=hidden[0][0], decision="accept").status_code == 400
    page = ann.get("/agreement").text
    from sklearn.metrics import cohen_kappa_score

    for theme in themes:
        xa = [int(theme in codes) for codes in plan["ann"]]
        xb = [int(theme in codes) for codes in plan["bob"]]
        row = re.search(rf'<tr class="ws-themerow" data-scope="theme" data-code="{re.escape(theme)}">.*?</tr>', page, re.S).group(0)
        kappa = re.search(r'data-pair="ann\|bob" data-kappa="([^"]*)"', row).group(1)
        expected = cohen_kappa_score(xa, xb)
        if kappa:
            assert float(kappa) == pytest.approx(expected)
        else:
            assert expected != expected or abs(expected) < 1e-9 or len(set(xa + xb)) == 1
        alpha = re.search(r'<td class="n alpha">([^<]*)</td>', row).group(1)
        assert alpha == f"{alpha_by_definition([xa, xb]):.2f}"
    # the disagreements, each linking to its excerpt
    for excerpt_id, a, b in zip(sample, plan["ann"], plan["bob"]):
        if a != b:
            assert f'href="/excerpt/{excerpt_id}"' in page


def test_passwords_off_the_local_host(workspace_template, tmp_path):
    users = tmp_path / "users.txt"
    runner = CliRunner()
    made = runner.invoke(cli, ["workspace", "--add-user", "ann", "--users", str(users), "--db", "x.db"],
                         input="correct horse\ncorrect horse\n")
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    assert users.read_text().startswith("ann:pbkdf2_sha256$")
    path = copy_db(workspace_template, tmp_path / "db")
    process, base = start(path, "--users", str(users))
    try:
        assert Client(base, "ann", "wrong password").login_response.status_code == 401
        assert Client(base, "eve", "correct horse").login_response.status_code == 401
        ann = Client(base, "ann", "correct horse")
        assert ann.login_response.status_code == 303
        assert ann.get("/").status_code == 200
        assert "correct horse" not in ann.get("/").text and "pbkdf2" not in ann.get("/login").text
    finally:
        stop(process)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--host", "0.0.0.0"], "needs passwords"),
        (["--host", "10.1.2.3", "--users", "{users}"], "in clear text"),
        (["--users", "{bad}"], "is not NAME:HASH"),
        (["--add-user", "ann"], "--add-user needs --users FILE"),
        (["--certfile", "nope.pem", "--keyfile", "nope.key"], "no such file"),
        (["--codebook", "{missing}"], "no such codebook folder"),
    ],
)
def test_bad_starts_are_one_line_errors(workspace_template, tmp_path, args, message):
    users = tmp_path / "users.txt"
    users.write_text("ann:pbkdf2_sha256$480000$abc$def\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("ann secret\n")
    db_path = copy_db(workspace_template, tmp_path / "db")
    args = [a.format(users=users, bad=bad, missing=tmp_path / "no-codebook") for a in args]
    result = CliRunner().invoke(cli, ["workspace", *args, "--db", str(db_path)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    missing = CliRunner().invoke(cli, ["workspace", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 1 and "no such database" in missing.output
    assert not (tmp_path / "none.db").exists()

"""The excerpt-code index of the publish database (``excerpt_codes`` and the counts built from it)
and the filtered ``excerpt_evidence`` pages that read it.

Checked against independent SQL: the working database's ``evidence`` view, and the excerpt table's
own JSON lists (what Datasette's array filters read), on the demo corpus through the real pipeline
and a real Datasette; consent on the consent study (tests/consent_study.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from urllib.parse import urlencode

import pytest

import consent_study as cs
from casestudy import db as dblib
from casestudy.browse import plugin, serve
from casestudy.consent import prepare, publish
from casestudy.consent import register as consent
from filemakers import sql

SCALAR = prepare.SCALAR_FACETS


def test_its_rows_are_the_evidence_views_rows(served_study):
    """One row per (excerpt, code) of the working database's consent-filtered evidence view, with the
    excerpt's facet values exactly as excerpt_evidence shows them."""
    work, pub = served_study
    view = set(sql(work, "SELECT DISTINCT excerpt_id, code_id, rq FROM evidence"))
    index = sql(pub, f"SELECT excerpt_id, code_id, rq FROM {prepare.CODE_INDEX_TABLE}")
    assert len(index) == len(set(index)) and set(index) == view and len(view) > 500
    # the same facts as the page's JSON lists (what ?codes__arraycontains= and ?rqs__arraycontains= read)
    lists = {(x, c) for x, codes in sql(pub, "SELECT excerpt_id, codes FROM excerpt_evidence") for c in json.loads(codes)}
    assert lists == {(x, c) for x, c, _ in index}
    rqs = {(x, r) for x, v in sql(pub, "SELECT excerpt_id, rqs FROM excerpt_evidence") for r in json.loads(v)}
    assert rqs == set(sql(pub, f"SELECT excerpt_id, rq FROM {prepare.CODE_INDEX_TABLE} WHERE rq_first = 1"))
    # an excerpt counts once in all (first) and once per RQ (rq_first)
    assert sql(pub, f"SELECT count(*), count(DISTINCT excerpt_id) FROM {prepare.CODE_INDEX_TABLE} WHERE first = 1")[0] == (
        sql(pub, "SELECT count(*), count(*) FROM excerpt_evidence")[0])
    assert not sql(pub, f"SELECT excerpt_id, rq FROM {prepare.CODE_INDEX_TABLE} GROUP BY excerpt_id, rq "
                        "HAVING sum(rq_first) != 1")
    cols = ", ".join(f"k.{c} IS x.{c}" for c in SCALAR)
    assert sql(pub, f"SELECT min({' AND '.join(cols.split(', '))}) FROM {prepare.CODE_INDEX_TABLE} k "
                    "JOIN excerpt_evidence x USING (excerpt_id)")[0][0] == 1
    # the summaries add up to it
    assert sql(pub, f"SELECT sum(n) FROM {prepare.CODE_COMBOS}")[0][0] == len(index)
    assert sql(pub, f"SELECT sum(n) FROM {prepare.CODE_PAIRS} WHERE a_code = b_code")[0][0] == len(index)


def _truth(pub, where: str, args=()) -> dict[str, dict]:
    """Every facet of excerpt_evidence under ``where``, counted from the excerpt table's own columns."""
    out = {}
    for name in prepare.EXCERPT_FACETS:
        if name in prepare.ARRAY_FACETS:
            rows = sql(pub, f"SELECT j.value, count(*) FROM excerpt_evidence, json_each({name}) j WHERE {where} "
                            "GROUP BY j.value", *args)
        else:
            rows = sql(pub, f"SELECT {name}, count(*) FROM excerpt_evidence WHERE ({where}) AND {name} IS NOT NULL "
                            f"GROUP BY {name}", *args)
        out[name] = dict(rows)
    return out


def _has(column: str, value: str) -> str:
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = '{value}')"


def _filters(pub) -> list[tuple[list[tuple[str, str]], str]]:
    """(query-string pairs, the same filter as SQL on excerpt_evidence): the pages the team opens."""
    code, rq = sql(pub, f"SELECT code_id, rq FROM {prepare.CODE_INDEX_TABLE} GROUP BY code_id ORDER BY count(*) DESC")[0]
    other = sql(pub, f"SELECT b_code FROM {prepare.CODE_PAIRS} WHERE a_code = ? AND b_code != ? GROUP BY b_code "
                     "ORDER BY sum(n) DESC LIMIT 1", code, code)[0][0]
    collab = sql(pub, "SELECT collaborative FROM excerpt_evidence WHERE collaborative IS NOT NULL LIMIT 1")[0][0]
    return [
        ([("wave", "2")], "wave = 2"),
        ([("ics", "Kellbridge")], "ics = 'Kellbridge'"),
        ([("status", "suggested")], "status = 'suggested'"),
        ([("collaborative", collab)], f"collaborative = '{collab}'"),
        ([("rqs__arraycontains", rq)], _has("rqs", rq)),
        ([("codes__arraycontains", code)], _has("codes", code)),
        ([("wave", "1"), ("status", "suggested")], "wave = 1 AND status = 'suggested'"),
        ([("ics__isnull", "1")], "ics IS NULL"),
        ([("rqs__arraycontains", rq), ("ics", "Kellbridge"), ("wave", "2")], f"{_has('rqs', rq)} AND ics = 'Kellbridge' AND wave = 2"),
        ([("codes__arraycontains", code), ("ics", "Ashmoor")], f"{_has('codes', code)} AND ics = 'Ashmoor'"),
        ([("codes__arraycontains", code), ("wave", "3")], f"{_has('codes', code)} AND wave = 3"),
        ([("codes__arraycontains", code), ("ics__isnull", "1"), ("wave", "2")], f"{_has('codes', code)} AND ics IS NULL AND wave = 2"),
        ([("rqs__arraycontains", rq), ("status", "suggested")], f"{_has('rqs', rq)} AND status = 'suggested'"),
        ([("codes__arraycontains", code), ("codes__arraycontains", other), ("wave", "2")],
         f"{_has('codes', code)} AND {_has('codes', other)} AND wave = 2"),
        ([("rqs__arraycontains", "RQ9")], _has("rqs", "RQ9")),
        ([("wave", "7")], "wave = 7"),
        ([("_search", "delegat*"), ("rqs__arraycontains", rq)],
         f"{_has('rqs', rq)} AND excerpt_id IN (SELECT rowid FROM excerpt_evidence_fts WHERE excerpt_evidence_fts MATCH '\"delegat\"*')"),
    ]


def test_every_filtered_page_has_exactly_the_rows_and_facets_of_its_filter(ds, pub):
    """Row count, the rows themselves and every facet, against SQL on the excerpt table, for the
    single values (precomputed), the framework-matrix cells, co-occurrence pairs and mixed filters."""
    before = dict(plugin.INDEX_LOOKUPS)
    for pairs, where in _filters(pub):
        url = "/study/excerpt_evidence.json?" + urlencode(pairs + [("_facet_size", "max"), ("_size", "20")])
        response = asyncio.run(ds.client.get(url))
        assert response.status_code == 200, (url, response.text[:300])
        data = response.json()
        ids = [r[0] for r in sql(pub, f"SELECT excerpt_id FROM excerpt_evidence WHERE {where} ORDER BY excerpt_id")]
        assert data["filtered_table_rows_count"] == len(ids), url
        assert [r[0] for r in data["rows"]] == ids[:20], url
        assert not data.get("facets_timed_out"), url
        got = {name: {v["value"]: v["count"] for v in data["facet_results"][name]["results"]}
               for name in prepare.EXCERPT_FACETS}
        assert got == _truth(pub, where), url
    # the facet filters were answered from the index (a Datasette writing other SQL would fail here)
    assert plugin.INDEX_LOOKUPS["counts"] - before["counts"] >= 15
    assert plugin.INDEX_LOOKUPS["rows"] - before["rows"] >= 15
    assert plugin.INDEX_LOOKUPS["filters"] > before["filters"]  # the search page: its array filter alone


def test_the_next_page_of_a_filtered_page(ds, pub):
    """Paging (?_next=) keeps the filter: the second page is the next rows of the same filter."""
    rq = "RQ3"
    first = asyncio.run(ds.client.get(f"/study/excerpt_evidence.json?rqs__arraycontains={rq}&wave=2&_size=5")).json()
    assert first["next"]
    second = asyncio.run(ds.client.get(
        f"/study/excerpt_evidence.json?rqs__arraycontains={rq}&wave=2&_size=5&_next={first['next']}")).json()
    ids = [r[0] for r in sql(pub, f"SELECT excerpt_id FROM excerpt_evidence WHERE {_has('rqs', rq)} AND wave = 2 "
                                  "ORDER BY excerpt_id LIMIT 10")]
    assert [r[0] for r in first["rows"]] + [r[0] for r in second["rows"]] == ids


def test_the_single_value_counts_are_the_excerpt_tables(pub):
    """excerpt_facet_cube, for every filter value of every facet, against the excerpt table."""
    checked = 0
    for facet in prepare.EXCERPT_FACETS:
        values = [v for (v,) in sql(pub, f"SELECT DISTINCT filter_value FROM {prepare.EXCERPT_CUBE} WHERE filter = ?", facet)]
        assert values, facet
        for value in values[:6]:
            where = (_has(facet, value) if facet in prepare.ARRAY_FACETS
                     else f"{facet} = {value if isinstance(value, int) else repr(value)}")
            truth = _truth(pub, where)
            for name in prepare.EXCERPT_FACETS:
                cube = dict(sql(pub, f"SELECT value, count FROM {prepare.EXCERPT_CUBE} WHERE filter = ? AND "
                                     "filter_value = ? AND facet = ?", facet, value, name))
                assert cube == truth[name], (facet, value, name)
                checked += 1
    assert checked > 200


def test_cooccurrence_is_counted_from_the_pairs(pub):
    """cooccurrence (now summed from excerpt_code_pairs) is what the evidence table says."""
    truth = set(sql(pub, """SELECT a.code_id, a.code, b.code_id, b.code, a.ics, a.wave, count(DISTINCT a.excerpt_id)
                            FROM evidence a JOIN evidence b ON b.excerpt_id = a.excerpt_id AND b.code_id != a.code_id
                            GROUP BY a.code_id, b.code_id, a.ics, a.wave"""))
    assert set(sql(pub, "SELECT * FROM cooccurrence")) == truth and len(truth) > 50


@pytest.fixture
def consent_work(tmp_path):
    return cs.build(tmp_path)


def test_a_withdrawn_participant_is_not_in_the_index_and_no_name_is(consent_work, tmp_path):
    """Built from the publish database only: what consent leaves out of it is not in the index either."""
    before, after = tmp_path / "before.db", tmp_path / "after.db"
    publish.publish(consent_work, before)
    s03 = {x for (x,) in sql(consent_work, "SELECT id FROM excerpts WHERE participant_id = 'S03' AND is_interviewer = 0")}
    assert s03 and s03 <= {x for (x,) in sql(before, f"SELECT excerpt_id FROM {prepare.CODE_INDEX_TABLE}")}
    db = dblib.open_db(consent_work)
    with db.atomic():
        consent.withdraw(db, "S03", "2024-06-01", "test")
    db.close()
    publish.publish(consent_work, after)
    index = {x for (x,) in sql(after, f"SELECT excerpt_id FROM {prepare.CODE_INDEX_TABLE}")}
    assert index and not index & s03
    assert index == {x for (x,) in sql(consent_work, "SELECT DISTINCT excerpt_id FROM evidence")}
    # no canary, register or staff name anywhere in the new tables (nor anywhere else in the file)
    problems = cs.scan_sqlite(after)
    assert problems == {}
    names = {prepare.CODE_INDEX_TABLE, prepare.CODE_COMBOS, prepare.CODE_PAIRS, prepare.EXCERPT_CUBE}
    assert names <= {r[0] for r in sql(after, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in names:
        cells = " ".join(str(c) for row in sql(after, f"SELECT * FROM [{table}]") for c in row)
        assert not cs.forbidden_found(cells) and "S03" not in cells, table


def _fold(pub) -> dict[int, tuple]:
    """excerpt_evidence's derived columns, folded in Python from the evidence table (the oracle)."""
    sort = dict(sql(pub, "SELECT id, sort FROM codes"))
    rows = sql(pub, "SELECT excerpt_id, code_id, code, rq, colour, status, coder, score, terms, offsets FROM evidence")
    by_excerpt: dict[int, list] = {}
    for row in sorted(rows, key=lambda r: (r[0], sort.get(r[1]) is not None, sort.get(r[1]) or 0, r[1])):
        by_excerpt.setdefault(row[0], []).append(row)
    out = {}
    for excerpt, group in by_excerpt.items():
        statuses = [r[5] for r in group]
        accepted = statuses.count("accepted")
        status = "accepted" if accepted == len(statuses) else "partly accepted" if accepted else "suggested"
        codings = [{"code_id": r[1], "code": r[2], "rq": r[3], "colour": r[4], "status": r[5], "coder": r[6],
                    "score": r[7], "terms": json.loads(r[8] or "[]"), "offsets": json.loads(r[9] or "[]")} for r in group]
        scores = [r[7] for r in group if r[7] is not None]
        out[excerpt] = (list(dict.fromkeys(r[1] for r in group)), sorted({r[3] for r in group if r[3]}), status,
                        len(group), max(scores) if scores else None, codings)
    return out


def test_the_excerpt_table_is_the_evidence_folded_per_excerpt(pub):
    """Built in one INSERT … SELECT: each excerpt's codes (codebook order, each once), RQs, status,
    counts and codings are what folding its evidence rows in Python gives."""
    expected = _fold(pub)
    got = {r[0]: (json.loads(r[1]), json.loads(r[2]), r[3], r[4], r[5], json.loads(r[6]))
           for r in sql(pub, "SELECT excerpt_id, codes, rqs, status, n_codes, best_score, codings FROM excerpt_evidence")}
    assert got == expected and len(got) > 300
    assert {s for _, _, s, *_ in got.values()} >= {"suggested"}
    # attribution and table_like, as their Python functions give them
    labels = dict(sql(pub, "SELECT wave, label FROM waves"))
    from casestudy.consent.prepare import _text_is_table, attribution
    from casestudy.textshape import looks_like_table

    for row in sql(pub, "SELECT excerpt_id, attribution, table_like, text, source_kind, participant_id, participant_role, "
                        "org_type, ics, wave, source_title, date, page FROM excerpt_evidence"):
        keys = ["source_kind", "participant_id", "participant_role", "org_type", "ics", "wave", "source_title", "date", "page"]
        assert row[1] == attribution(dict(zip(keys, row[4:])), labels.get(row[9]))
        text = row[3]
        assert row[2] == int(bool(text) and not text.startswith("[withheld") and looks_like_table(text)) == int(_text_is_table(text))
    assert sql(pub, "SELECT count(*) FROM excerpt_evidence WHERE table_like = 1")[0][0] > 0


def test_a_later_page_is_found_through_the_index_and_keeps_the_whole_filters_facets(ds, pub):
    """?_next= pages: the next rows in excerpt order, the same row count and facets as the first page."""
    code = sql(pub, f"SELECT code_id FROM {prepare.CODE_INDEX_TABLE} GROUP BY code_id ORDER BY count(*) DESC")[0][0]
    url = f"/study/excerpt_evidence.json?codes__arraycontains={code}&_size=7&_facet_size=max"
    first = asyncio.run(ds.client.get(url)).json()
    before = dict(plugin.INDEX_LOOKUPS)
    second = asyncio.run(ds.client.get(url + "&_next=" + first["next"])).json()
    assert plugin.INDEX_LOOKUPS["rows"] == before["rows"] + 1  # the page's rows through the index
    ids = [r[0] for r in sql(pub, f"SELECT excerpt_id FROM excerpt_evidence WHERE {_has('codes', code)} ORDER BY excerpt_id")]
    assert [r[0] for r in second["rows"]] == ids[7:14]
    assert second["filtered_table_rows_count"] == first["filtered_table_rows_count"] == len(ids)
    counts = [{name: [(v["value"], v["count"]) for v in facet["results"]] for name, facet in page["facet_results"].items()}
              for page in (first, second)]
    assert counts[0] == counts[1] and len(counts[0]) == len(prepare.EXCERPT_FACETS)
    # a facet clicked on a later page opens the first page of the new filter
    toggles = [v["toggle_url"] for facet in second["facet_results"].values() for v in facet["results"]]
    assert toggles and not any("_next" in t for t in toggles)

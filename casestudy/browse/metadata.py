"""Datasette metadata for the publish database: descriptions of every table and column,
facets, full-text search and the canned queries."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import urlencode

from casestudy import study
from casestudy.browse.site import DB_NAME, DEFAULT_USERNAME, PASSWORD_ENV
from casestudy.consent.prepare import DATE_FACET, EXCERPT_FACETS, EXCERPT_TABLE, FACET_COLUMNS, columns as _columns


# Query-string examples used by the tests and the benchmark for each canned query.
CANNED_EXAMPLES = {
    "framework_matrix": "rq=",
    "evidence_for": "rq=RQ3&code=&ics=&wave=",  # canned_examples() fills in the study's own ICS and wave
    "longitudinal": "rq=&ics=",
    "cooccurrence": "code=&ics=&wave=",
    "sources_by_ics": "wave=",
    "consent_counts": "",
    "review_queue": "rq=&ics=",
    "excerpt_context": "excerpt_id=2&around=3",
    "search": "q=delegat*&rq=&ics=&wave=",
    "indicator_trend": "indicator=rtt_52_week_waits&ics=",
}


# --- metadata: descriptions, facets, search, canned queries -------------------------------


EVIDENCE_COLUMNS = {
    "coding_id": "The coding's id: one row here is one code applied to one excerpt.",
    "excerpt_id": "The excerpt's id; click it to read the excerpt in its source, with the turns before and after.",
    "text": "The excerpt, pseudonymised (names replaced by participant IDs). Terms that matched the code are highlighted. "
    "'[withheld: …]' when the participant did not consent to verbatim quotation (still counted).",
    "rq": "Research question RQ1–RQ6 the code belongs to.",
    "code": "The code (theme) from the codebook.",
    "code_id": "The code's id in the codebook.",
    "status": "suggested (by the automatic coder, awaiting review) or accepted (by a researcher). Rejected codings are never published.",
    "coder": "Who coded: auto:<codebook version> (a theme found by the codebook's patterns, or a research question "
    "named by its key terms), "
    "learned:<model version> (the research question judged by the learned model) or a researcher's name.",
    "terms": "Why it was suggested (JSON list of the excerpt's own words): the codebook terms or key terms found (auto:…), "
    "or the words that weighed most for the learned model (learned:…).",
    "decided_by": "The researcher whose decision the row stands on: who accepted the suggestion or added the code "
    "(empty: a suggestion not reviewed yet).",
    "span_start": "When only part of the excerpt is coded: where that part starts in text (empty = the whole excerpt).",
    "span_end": "Where the coded part ends in text.",
    "quote": "The words of the coded part, when only part of the excerpt is coded.",
    "offsets": "Where the terms are in the text: JSON [[start, end], …] character offsets.",
    "score": "The automatic coder's confidence (0–1): patterns and learned model combined.",
    "source_id": "The source document or transcript.",
    "source_kind": "transcript, board-paper, policy or observation.",
    "source_title": "The source's title.",
    "ics": "Integrated Care System.",
    "collaborative": "The provider collaborative the source concerns (blank: the ICS as a whole).",
    "wave": "Fieldwork wave (its years are in the study settings on the home page).",
    "date": "Date of the interview, meeting or document.",
    "page": "Page of the PDF or document, for citation.",
    "heading": "The heading the paragraph sits under (documents).",
    "turn": "Turn number in the interview.",
    "speaker_role": "participant (interviews); blank for documents.",
    "participant_id": "Pseudonymous participant ID (P01…).",
    "participant_role": "The participant's job role.",
    "org_type": "The participant's organisation type (ICB, acute trust, VCSE, …).",
    "quotable": "1 if the excerpt may be quoted verbatim; 0 if the participant refused quotation.",
    "colour": "The code's colour in the codebook.",
}

# Columns a researcher rarely needs: hidden on the pages until "Show technical columns" is clicked.
TECHNICAL_COLUMNS = {
    EXCERPT_TABLE: ["participant_id", "quotable", "table_like", "n_codes", "best_score", "codings", "source_id", "rqs"],
    "evidence": ["coding_id", "code_id", "coder", "terms", "offsets", "score", "source_id", "heading", "turn",
                 "speaker_role", "quotable", "colour"],
}

EXCERPT_COLUMNS = {
    "excerpt_id": "The excerpt's id; click it to read the excerpt in its source, with the turns before and after.",
    "text": "The excerpt, pseudonymised. Terms that matched its codes are highlighted in the codes' colours; "
    "'[withheld: …]' when the participant did not consent to verbatim quotation (still counted).",
    "attribution": "Who said it (pseudonymous ID, role, organisation type, ICS, wave) or which document it comes from.",
    "codes": "Every code applied to the excerpt, in its colour, with its review status.",
    "rqs": "The research questions of its codes (JSON list).",
    "status": "accepted (every code accepted by a researcher), partly accepted, or suggested (by the automatic coder, "
    "awaiting review).",
    "ics": "Integrated Care System (blank: national documents).",
    "collaborative": "The provider collaborative the source concerns (blank: the ICS as a whole).",
    "wave": "Fieldwork wave.",
    "source_kind": "transcript, board-paper, policy or observation.",
    "org_type": "The participant's organisation type (ICB, acute trust, VCSE, …).",
    "participant_role": "The participant's job role.",
    "participant_id": "Pseudonymous participant ID (blank for documents and for withheld quotations).",
    "date": "Date of the interview, meeting or document.",
    "source_title": "The source's title.",
    "page": "Page of the PDF or document, for citation.",
    "quotable": "1 if the excerpt may be quoted verbatim.",
    "table_like": "1 if the text reads as a flattened table row rather than prose (kept out of the review queue's top).",
    "n_codes": "How many codes were applied.",
    "best_score": "The automatic coder's highest confidence among its codes (0–1).",
    "codings": "Every coding in full (code, colour, status, coder, score, matched terms and offsets), as JSON.",
    "source_id": "The source's id.",
}

TABLES = {
    EXCERPT_TABLE: {
        "description": "The coded evidence, one row per excerpt: the quote and who said it first, then its codes "
        "in their colours with their review status. Filter with the facets, search the text with the box "
        '("delegat*" for word beginnings, quotes for phrases), click an excerpt id to read it in context.',
        "columns": EXCERPT_COLUMNS,
        "sort": "excerpt_id",
        "facets": [{"cs": c} for c in EXCERPT_FACETS],
        "facet_size": 10,
    },
    "evidence": {
        "description": "One row per code applied to an excerpt: everything consent allows, pseudonymised. "
        "Filter with the facets, search the text with the box, click an excerpt id to see it in context.",
        "columns": EVIDENCE_COLUMNS,
        "sort": "coding_id",
        "label_column": "code",
    },
    "excerpts": {
        "description": "Every published excerpt (interview turns, including the interviewer's for context; document paragraphs), "
        "in source order.",
        "columns": {
            "id": "The excerpt's id.",
            "source_id": "The source it comes from.",
            "seq": "Position in the source (1, 2, 3, …).",
            "text": "The text, pseudonymised ('[withheld: …]' when not quotable).",
            "speaker_role": "interviewer or participant (interviews); blank for documents.",
            "participant_id": "Pseudonymous participant ID.",
            "turn": "Turn number in the interview.",
            "page": "Page number (PDF documents).",
            "heading": "Heading the paragraph sits under.",
            "start_time": "Timestamp of the turn in the recording (VTT / timestamped transcripts).",
            "char_start": "Start of the excerpt in the source's text (characters).",
            "char_end": "End of the excerpt in the source's text (characters).",
            "quotable": "1 if it may be quoted verbatim.",
        },
        "sort": "id",
    },
    "sources": {
        "description": "Interviews, board papers, policies and observation notes, with their ICS, collaborative, wave and date.",
        "columns": {
            "id": "The source's id.",
            "kind": "transcript, board-paper, policy or observation.",
            "format": "The file format it was read from (docx, pdf, vtt, txt, md).",
            "title": "Title.",
            "ics": "Integrated Care System.",
            "collaborative": "Provider collaborative (blank: the ICS as a whole).",
            "wave": "Fieldwork wave (its years are in the study settings on the home page).",
            "date": "Date of the interview, meeting or document.",
            "pages": "Number of pages (documents).",
            "words": "Number of words.",
            "participant_id": "The interviewee (transcripts).",
            "excerpts": "Number of published excerpts.",
            "text": "The whole text, pseudonymised (interviews without consent to quotation are withheld); searchable.",
        },
        "sort": "date",
        "label_column": "title",
    },
    "codes": {
        "description": "The codebook: six research questions (RQ1–RQ6) and their themes, with definitions and colours.",
        "columns": {
            "id": "The code's id.",
            "rq": "Research question.",
            "parent_id": "The parent code (blank for the RQ itself).",
            "name": "The code's name; top-level codes are 'RQn <short question>'.",
            "description": "What the code means.",
            "inclusion": "When to apply it.",
            "exclusion": "When not to apply it.",
            "example": "An example.",
            "colour": "Its colour in this site and in exports.",
            "codable": "1 if excerpts are coded to it (0 for a grouping heading).",
            "sort": "Order in the codebook.",
            "codebook_version": "The codebook version (content hash) the code comes from.",
        },
        "sort": "sort",
        "label_column": "name",
    },
    "participants": {
        "description": "Interviewees as the study shows them: pseudonymous ID, role, organisation type and ICS (never names).",
        "columns": {
            "id": "Pseudonymous participant ID.",
            "role": "Job role.",
            "org_type": "Organisation type.",
            "ics": "Integrated Care System.",
            "waves": "Waves interviewed in.",
            "excerpts": "Number of published excerpts.",
        },
        "sort": "id",
        "label_column": "id",
    },
    "framework": {
        "description": "The framework matrix in long form: for each code, ICS and wave, how many excerpts, participants and "
        "sources. See the 'framework_matrix' query for the grid.",
        "columns": {
            "rq": "Research question.",
            "code_id": "Code id.",
            "code": "Code.",
            "ics": "Integrated Care System.",
            "wave": "Fieldwork wave.",
            "excerpts": "Excerpts coded.",
            "participants": "Distinct participants among them.",
            "sources": "Distinct sources among them.",
            "accepted": "How many of those codings a researcher has accepted.",
        },
        "sort": "rq",
    },
    "consent_summary": {
        "description": "Consent in counts only (participants, withdrawals, refusals of quotation): no one is identifiable here.",
        "columns": {
            "ics": "Integrated Care System.",
            "participants": "Participants in the consent register.",
            "interview_consent": "Of them, consented to interview.",
            "quotation_refused": "Of them, refused verbatim quotation (counted, never quoted).",
            "withdrawn": "Of them, withdrawn (absent from everything published).",
        },
    },
    "review_summary": {
        "description": "How the codebook's automatic suggestions were reviewed, in counts only (rejected ones "
        "included, which the evidence table leaves out): the basis of the report's coder-agreement table.",
        "columns": {
            "rq": "Research question (RQ1–RQ6).",
            "ics": "Integrated Care System (empty for national documents).",
            "wave": "Fieldwork wave (its years are in the study settings on the home page).",
            "status": "suggested (not yet reviewed), accepted or rejected.",
            "n": "Number of automatic codings.",
        },
        "facets": ["rq", "status", "ics", "wave"],
    },
    "agreement_ratings": {
        "description": "What inter-coder agreement is computed from (the report's coder-agreement appendix and the "
        "workspace's agreement page): each researcher's latest decision per excerpt and code, and the automatic "
        "coders' suggestions, on the excerpts researchers rated. No text.",
        "columns": {
            "excerpt_id": "The excerpt rated.",
            "coder": "A researcher, or an automatic coder (auto:<codebook version>, learned:<model version>).",
            "automatic": "1 for an automatic coder.",
            "code_id": "The theme (empty: a marker that the coder rated this excerpt; themes not listed were not applied).",
            "value": "1 applied, 0 decided not to apply, empty = a suggestion the researcher has not decided yet.",
            "ics": "Integrated Care System of the excerpt's source.",
            "wave": "Fieldwork wave of the excerpt's source.",
        },
        "facets": ["coder", "value"],
    },
    "suggestion_outcomes": {
        "description": "How the automatic suggestions fared against the researchers' decisions, on each excerpt "
        "reviewed in full (a person decided on it and no suggestion on it is waiting): one row per research "
        "question suggested or applied there. coder_scorecard sums it. No text.",
        "columns": {
            "excerpt_id": "The excerpt reviewed.",
            "rq": "Research question (RQ1–RQ6).",
            "suggested": "1 when an automatic coder (the codebook's patterns or the learned model) suggested it.",
            "applied": "1 when a researcher applied it (accepted a suggestion, or added a code by hand).",
            "outcome": "agreed (suggested and applied), false alarm (suggested, not applied) or missed (applied, not suggested).",
            "ics": "Integrated Care System of the excerpt's source.",
            "wave": "Fieldwork wave of the excerpt's source.",
        },
        "facets": ["rq", "outcome", "ics", "wave"],
    },
    "coder_scorecard": {
        "description": "The automatic coder's scorecard on this study, per research question, as `casestudy review "
        "scorecard` and the workspace's agreement page show it: on the excerpts reviewed in full, how many of its "
        "suggestions researchers kept (precision) and how many of the questions they applied it had suggested "
        "(recall). Researchers saw the suggestions as they decided, so recall counts only what they added by hand.",
        "columns": {
            "rq": "Research question (RQ1–RQ6).",
            "excerpts": "Excerpts reviewed in full where it was suggested or applied.",
            "agreed": "Suggested and applied.",
            "false_alarms": "Suggested, not applied.",
            "missed": "Applied by a researcher, not suggested.",
            "precision": "agreed / (agreed + false alarms).",
            "recall": "agreed / (agreed + missed).",
            "f1": "The harmonic mean of precision and recall.",
        },
    },
    "coding_details": {
        "description": "When each published coding was made, who accepted it and when, and the span it covers (for REFI-QDA exports).",
        "columns": {
            "coding_id": "The coding (evidence.coding_id).",
            "created_at": "When the coding was made (suggested by the automatic coder, or added by a researcher).",
            "reviewed_by": "The researcher who accepted it (or added it).",
            "reviewed_at": "When it was accepted.",
            "span_start": "Where a coding of part of the excerpt starts (character offset in the published text; blank: the whole excerpt).",
            "span_end": "Where that span ends.",
        },
    },
    "memos": {
        "description": "Analytic memos written by the research team on excerpts, codes or sources.",
        "columns": {
            "id": "Memo id.",
            "excerpt_id": "The excerpt it is about (if any).",
            "code_id": "The code it is about (if any).",
            "source_id": "The source it is about (if any).",
            "author": "Who wrote it.",
            "text": "The memo.",
            "created_at": "When.",
        },
    },
    "framework_rq": {
        "description": "The framework matrix by research question: distinct excerpts, participants and sources for each "
        "RQ, ICS and wave (an excerpt coded twice within one RQ counts once).",
        "columns": {
            "rq": "Research question.",
            "ics": "Integrated Care System (blank: national sources).",
            "wave": "Fieldwork wave.",
            "excerpts": "Distinct excerpts coded to the RQ.",
            "participants": "Distinct participants among them.",
            "sources": "Distinct sources among them.",
        },
    },
    "cooccurrence": {
        "description": "Pairs of codes applied to the same excerpt, by ICS and wave (each pair appears both ways round). "
        "See the 'cooccurrence' query.",
        "columns": {
            "code_a_id": "First code id.",
            "code_a": "First code.",
            "code_b_id": "Second code id.",
            "code_b": "Second code.",
            "ics": "Integrated Care System.",
            "wave": "Fieldwork wave.",
            "excerpts": "Excerpts coded with both.",
        },
    },
    "indicators": {
        "description": "Routine quantitative data: one figure per indicator, ICS (and collaborative) and period, "
        "as ingested from the study's indicator files (kind 'indicators'). Aggregate and non-personal. See the "
        "'indicator_trend' query for one indicator across periods.",
        "columns": {
            "id": "The figure's id.",
            "ics": "Integrated Care System.",
            "collaborative": "The provider collaborative the figure is for (blank: the ICS as a whole).",
            "indicator": "What is measured, as named in the source file (e.g. rtt_52_week_waits).",
            "period": "The period the figure covers: a quarter (2024Q1 = January–March 2024), a month, a year or a date.",
            "period_start": "The first day of the period (sorts periods in time order).",
            "year": "The period's calendar year.",
            "wave": "Fieldwork wave whose dates contain the period (blank: outside every wave).",
            "value": "The figure.",
            "unit": "Its unit, when the file gives one.",
            "source": "Where the figure comes from, when the file says.",
            "notes": "Notes from the file (pseudonymised).",
        },
        "facets": ["ics", "collaborative", "indicator", "wave"],
        "sort": "period_start",
        "label_column": "indicator",
    },
    "publish_info": {"hidden": True},
    "evidence_facet_counts": {"hidden": True},
    "evidence_facet_cube": {"hidden": True},
    "excerpt_facet_counts": {"hidden": True},
    "waves": {"description": "The fieldwork waves and their labels.", "columns": {"wave": "Wave number.", "label": "Label."}},
    "disclosure": {
        "description": "What disclosure control found in published interview turns: the rule, and whether the phrase was "
        "generalised (replaced by '[own post withheld]') or only flagged for a researcher to check. See docs/consent.md.",
        "columns": {"excerpt_id": "The excerpt.", "rule": "The rule that matched (casestudy/consent/disclosure.yaml).",
                    "action": "generalise or flag."},
        "facets": ["rule", "action"],
    },
    "sqlite_stat1": {"hidden": True},
    "sqlite_stat4": {"hidden": True},
}


def _fts_table(conn: sqlite3.Connection, table: str) -> str | None:
    """The FTS table indexing ``table``: ``<table>_fts`` or one declared with content=<table>."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'").fetchall()
    for name, sql in rows:
        if name == f"{table}_fts":
            return name
    for name, sql in rows:
        if re.search(rf"content\s*=\s*['\"\[]?{table}['\"\]]?\s*[,)]", sql or "", re.I):
            return name
    return None


NO_ICS = "national"  # evidence from sources of no one ICS (national policy): its own matrix column


def _pivot_cells(conn: sqlite3.Connection) -> list[tuple[str | None, int]]:
    """The (ICS, wave) cells of the framework matrix, from the data (ICS None: national sources)."""
    return [
        (ics, wave)
        for ics, wave in conn.execute(
            "SELECT DISTINCT ics, wave FROM framework WHERE wave IS NOT NULL ORDER BY ics IS NULL, ics, wave"
        )
    ]


def _ics_is(ics: str | None) -> str:
    return "ics IS NULL" if ics is None else f"ics = {_q(ics)}"


def _q(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _label(ics: str | None, wave: int) -> str:
    return f"{ics or NO_ICS} w{wave}"


def canned_queries(path: "str | Path") -> dict:
    """The canned queries, generated for this publish database (the matrix has a column per ICS × wave)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cells = _pivot_cells(conn)
        waves = [w for (w,) in conn.execute("SELECT DISTINCT wave FROM framework WHERE wave IS NOT NULL ORDER BY wave")]
        has_indicators = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'indicators'").fetchone()
    finally:
        conn.close()
    queries = _canned_queries(cells, waves)
    if has_indicators:
        queries["indicator_trend"] = INDICATOR_TREND
    # Researchers see the form and the results; the SQL is one click away ("show").
    return {name: {"hide_sql": True, **query} for name, query in queries.items()}


INDICATOR_TREND = {
    "title": "A routine indicator by ICS across periods",
    "description": "One indicator (e.g. rtt_52_week_waits; leave blank for all) for each ICS and collaborative, period "
    "by period, with the change since the first period shown, in units and in per cent. Optionally one ICS.",
    "params": ["indicator", "ics"],
    "sql": """SELECT indicator, ics, collaborative, period, wave, value, unit,
  CASE WHEN typeof(value) = 'integer' AND typeof(v0) = 'integer' THEN value - v0 ELSE round(value - v0, 4) END
    AS change_since_first,
  round(100.0 * (value - v0) / nullif(v0, 0), 1) AS change_since_first_pct,
  p0 AS first_period
FROM (
  SELECT *, first_value(value) OVER w AS v0, first_value(period) OVER w AS p0
  FROM indicators
  WHERE (:indicator = '' OR lower(indicator) = lower(trim(:indicator))) AND (:ics = '' OR lower(ics) = lower(trim(:ics)))
  WINDOW w AS (PARTITION BY indicator, ics, collaborative ORDER BY period_start)
)
ORDER BY indicator, ics, collaborative, period_start
LIMIT 2000""",
}


def _canned_queries(cells: list, waves: list) -> dict:
    """The canned queries over the evidence (``canned_queries`` adds the indicators' one)."""
    pivot = ",\n  ".join(
        f"sum(CASE WHEN {_ics_is(ics)} AND wave = {int(wave)} THEN n END) AS [{_label(ics, wave)}]" for ics, wave in cells
    ) or "NULL AS [no data]"
    per_wave = ",\n  ".join(f"sum(CASE WHEN f.wave = {int(w)} THEN f.excerpts ELSE 0 END) AS [wave {int(w)}]" for w in waves)
    shares = ",\n  ".join(
        f"round(100.0 * sum(CASE WHEN f.wave = {int(w)} THEN f.excerpts ELSE 0 END) / "
        f"(SELECT sum(excerpts) FROM framework WHERE wave = {int(w)} AND (:ics = '' OR ics = :ics)), 1) AS [wave {int(w)} %]"
        for w in waves
    )
    first, last = (waves[0], waves[-1]) if waves else (1, 1)
    change = (
        f"sum(CASE WHEN f.wave = {int(last)} THEN f.excerpts ELSE 0 END) - "
        f"sum(CASE WHEN f.wave = {int(first)} THEN f.excerpts ELSE 0 END) AS [change w{int(first)}→w{int(last)}]"
    )
    return {
        "framework_matrix": {
            "title": "Framework matrix: RQ (or code) × ICS × wave",
            "description": "How many excerpts were coded to each research question in each ICS and wave. Leave 'rq' "
            "blank for one row per RQ; give an RQ (e.g. RQ3) for one row per code of that RQ. Click a number "
            "to read that evidence.",
            "params": ["rq"],
            "sql": f"""WITH cells AS (
  SELECT rq, '' AS code_id, rq AS row_label, ics, wave, excerpts AS n
  FROM framework_rq WHERE :rq = ''
  UNION ALL
  SELECT rq, code_id, code AS row_label, ics, wave, excerpts AS n
  FROM framework WHERE rq = upper(:rq)
)
SELECT cells.rq, cells.code_id, coalesce((SELECT name FROM codes WHERE id = nullif(cells.code_id, '')),
  (SELECT name FROM codes WHERE rq = cells.rq AND parent_id IS NULL), cells.row_label) AS row_label,
  {pivot},
  sum(n) AS total
FROM cells
GROUP BY cells.rq, cells.code_id
ORDER BY cells.rq, (SELECT sort FROM codes WHERE id = cells.code_id), row_label""",
        },
        "evidence_for": {
            "title": "Evidence for one RQ or code in one ICS and wave",
            "description": "The coded excerpts behind one cell of the framework matrix. Give rq (RQ1–RQ6) or a code "
            "(its id or name), an ICS (or 'national' for national documents) and a wave number. "
            "Shows the first 200; the evidence table, filtered the same way, pages through all of them.",
            "params": ["rq", "code", "ics", "wave"],
            "sql": f"""SELECT excerpt_id, text, code, rq, status, source_kind, source_title, collaborative, date, page,
  participant_id, participant_role, org_type, offsets, colour
FROM evidence
WHERE rq = coalesce(nullif(upper(:rq), ''), (SELECT rq FROM codes WHERE id = :code OR name = :code))
  AND (ics = :ics OR (ics IS NULL AND :ics = '{NO_ICS}')) AND wave = CAST(:wave AS INTEGER)
  AND (:code = '' OR code_id = :code OR code = :code)
ORDER BY date, source_id, excerpt_id, code
LIMIT 200""",
        },
        "longitudinal": {
            "title": "Longitudinal change of each theme across waves",
            "description": "For each code: excerpts in each wave, the change from the first to the last wave, and each "
            "wave's share of that wave's codings (so that waves with more fieldwork do not look like growth). "
            "Optionally one RQ and/or one ICS.",
            "params": ["rq", "ics"],
            "sql": f"""SELECT f.rq, f.code_id, f.code, c.colour, nullif(:ics, '') AS ics,
  {per_wave},
  {change},
  {shares}
FROM framework f LEFT JOIN codes c ON c.id = f.code_id
WHERE (:rq = '' OR f.rq = upper(:rq)) AND (:ics = '' OR f.ics = :ics)
GROUP BY f.rq, f.code_id
ORDER BY f.rq, c.sort, f.code""",
        },
        "cooccurrence": {
            "title": "Code co-occurrence within excerpts",
            "description": "Which codes are applied to the same excerpt, and how often. Give a code (id or name) to see "
            "what co-occurs with it; optionally one ICS and one wave.",
            "params": ["code", "ics", "wave"],
            "sql": """SELECT code_a, code_b, sum(excerpts) AS excerpts, code_a_id, code_b_id,
  nullif(:ics, '') AS ics, CAST(nullif(:wave, '') AS INTEGER) AS wave
FROM cooccurrence
WHERE (:code = '' OR code_a_id = :code OR code_a = :code)
  AND (:ics = '' OR ics = :ics) AND (:wave = '' OR wave = CAST(:wave AS INTEGER))
  AND (:code != '' OR code_a_id < code_b_id)
GROUP BY code_a_id, code_b_id
ORDER BY excerpts DESC, code_a, code_b
LIMIT 200""",
        },
        "sources_by_ics": {
            "title": "Sources by ICS and kind",
            "description": "How many interviews, board papers, policies and observation notes each ICS has, with words, "
            "excerpts and date range. Optionally one wave.",
            "params": ["wave"],
            "sql": """SELECT ics, kind, count(*) AS sources, sum(excerpts) AS excerpts, sum(words) AS words,
  count(DISTINCT participant_id) AS participants, min(date) AS first, max(date) AS last
FROM sources
WHERE :wave = '' OR wave = CAST(:wave AS INTEGER)
GROUP BY ics, kind ORDER BY ics, kind""",
        },
        "consent_counts": {
            "title": "Consent summary (counts only)",
            "description": "Participants, withdrawals and refusals of verbatim quotation, as counts. Nobody's consent "
            "record is published.",
            "sql": "SELECT * FROM consent_summary",
        },
        "review_queue": {
            "title": "Review queue: suggested codings",
            "description": "Codings the automatic coder suggested that no researcher has accepted yet, the 200 most confident "
            "first (text that reads as a flattened table row comes last, whatever its score: it is rarely evidence). "
            "Accept or reject them with `casestudy review` (this site is read-only). Optionally one RQ and/or ICS.",
            "params": ["rq", "ics"],
            # prose first, then table rows, each walked down the (status, score) index: fast on a million rows
            "sql": f"""SELECT * FROM (SELECT e.coding_id, e.excerpt_id, e.score, e.code, e.text, e.rq, e.ics, e.wave, e.source_title, e.coder, e.offsets, e.colour
  FROM evidence e
  WHERE e.status = 'suggested' AND (:rq = '' OR e.rq = upper(:rq)) AND (:ics = '' OR e.ics = :ics)
    AND NOT EXISTS (SELECT 1 FROM {EXCERPT_TABLE} x WHERE x.excerpt_id = e.excerpt_id AND x.table_like = 1)
  ORDER BY e.score DESC, e.coding_id LIMIT 200)
UNION ALL
SELECT * FROM (SELECT e.coding_id, e.excerpt_id, e.score, e.code, e.text, e.rq, e.ics, e.wave, e.source_title, e.coder, e.offsets, e.colour
  FROM evidence e
  WHERE e.status = 'suggested' AND (:rq = '' OR e.rq = upper(:rq)) AND (:ics = '' OR e.ics = :ics)
    AND EXISTS (SELECT 1 FROM {EXCERPT_TABLE} x WHERE x.excerpt_id = e.excerpt_id AND x.table_like = 1)
  ORDER BY e.score DESC, e.coding_id LIMIT 200)
LIMIT 200""",
        },
        "search": {
            "title": "Search the evidence",
            "description": "Excerpts that contain your words, the most relevant first, with the words highlighted. "
            'Words match as written; end one with * for every word that begins so ("delegat*": delegated, delegation…); '
            'put a phrase in quotes ("lead provider"). Optionally one RQ (e.g. RQ3), ICS and wave. To filter the results '
            "with facets, use the same search on the excerpt_evidence table.",
            "params": ["q", "rq", "ics", "wave"],
            "sql": f"""SELECT x.excerpt_id, highlight({EXCERPT_TABLE}_fts, 0, char(2), char(3)) AS text, x.attribution,
  x.codes, x.status, x.ics, x.wave, x.source_kind, x.codings
FROM {EXCERPT_TABLE}_fts JOIN {EXCERPT_TABLE} x ON x.excerpt_id = {EXCERPT_TABLE}_fts.rowid
WHERE {EXCERPT_TABLE}_fts MATCH escape_fts(:q)
  AND (:ics = '' OR x.ics = :ics OR (x.ics IS NULL AND :ics = '{NO_ICS}'))
  AND (:wave = '' OR x.wave = CAST(:wave AS INTEGER))
  AND (:rq = '' OR EXISTS (SELECT 1 FROM json_each(x.rqs) WHERE value = upper(:rq)))
ORDER BY rank
LIMIT 200""",
        },
        "excerpt_context": {
            "title": "An excerpt in its source",
            "description": "The excerpt (marked ▶) with the turns or paragraphs before and after it ('around': how many, "
            "default 3), and the codes applied to each.",
            "params": ["excerpt_id", "around"],
            "sql": """WITH here AS (SELECT id, source_id, seq FROM excerpts WHERE id = CAST(:excerpt_id AS INTEGER))
SELECT CASE WHEN x.id = here.id THEN '▶' ELSE '' END AS here, x.id AS excerpt_id, x.seq, x.speaker_role,
  x.participant_id, x.text, x.page, x.heading, x.start_time,
  (SELECT group_concat(code, '; ') FROM evidence WHERE excerpt_id = x.id) AS codes,
  s.title AS source_title, s.kind AS source_kind, s.ics, s.collaborative, s.wave, s.date
FROM here
JOIN excerpts x ON x.source_id = here.source_id
  AND x.seq BETWEEN here.seq - coalesce(CAST(nullif(:around, '') AS INTEGER), 3)
                AND here.seq + coalesce(CAST(nullif(:around, '') AS INTEGER), 3)
JOIN sources s ON s.id = x.source_id
ORDER BY x.seq""",
        },
    }


STUDY_TITLE = "NHS provider collaboratives: coded evidence"  # when the study settings give no title
STUDY_DESCRIPTION = (
    "Interviews, board papers, policies "
    "and observation notes are coded to six research questions: RQ1 purpose, RQ2 members, RQ3 governance and "
    "accountability, RQ4 contracts, RQ5 ICB plans, RQ6 quality, efficiency and sustainability. Everything here is "
    "consent-safe and pseudonymised: withdrawn participants are absent, names are replaced by IDs."
)


def study_title(settings) -> str:
    return f"{settings.title}: coded evidence" if settings.title else STUDY_TITLE


def study_description(settings) -> str:
    """The home page's description: the study from its settings, then what the site holds."""
    text = settings.summary()
    if settings.pi:
        text += f" Principal investigator: {settings.pi}."
    if settings.waves:
        text += " Waves: " + ", ".join(study.wave_label(settings, w.number) for w in settings.waves) + "."
    return f"{text} {STUDY_DESCRIPTION}"


def canned_examples(settings) -> dict[str, str]:
    """CANNED_EXAMPLES with the study's own first ICS and latest wave where a query takes them."""
    examples = dict(CANNED_EXAMPLES)
    ics = settings.ics_names()[0] if settings.ics else ""
    wave = str(settings.waves[-1].number) if settings.waves else ""
    examples["evidence_for"] = urlencode({"rq": "RQ3", "code": "", "ics": ics, "wave": wave})
    return examples


def _describe_columns(tables: dict, settings) -> None:
    """The ``ics`` and ``wave`` column descriptions, naming the study's own ICSs and waves."""
    ics = f"Integrated Care System ({', '.join(settings.ics_names())})." if settings.ics else None
    waves = ("Fieldwork wave: " + ", ".join(study.wave_label(settings, w.number) for w in settings.waves) + ".") if settings.waves else None
    for meta in tables.values():
        columns = meta.get("columns")
        if not columns:
            continue
        meta["columns"] = columns = dict(columns)
        if ics and "ics" in columns:
            columns["ics"] = ics
        if waves and "wave" in columns and not columns["wave"].startswith("Fieldwork wave whose"):
            columns["wave"] = waves


def metadata(path: "str | Path", password_hash: str | None = None, username: str = DEFAULT_USERNAME) -> dict:
    """Datasette metadata for the publish database at ``path``."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        evidence_fts = _fts_table(conn, "evidence")
        excerpts_fts = _fts_table(conn, "excerpts") if "excerpts" in present else None
        evidence_cols = set(_columns(conn, "evidence"))
        cells = _pivot_cells(conn) if "framework" in present else []
    finally:
        conn.close()
    settings = study.load_published(path)
    tables = {name: dict(meta) for name, meta in TABLES.items() if name in present}
    ev = tables["evidence"]
    ev["columns"] = {k: v for k, v in EVIDENCE_COLUMNS.items() if k in evidence_cols}
    _describe_columns(tables, settings)
    ev["facets"] = [c for c in FACET_COLUMNS if c in evidence_cols]
    if DATE_FACET in evidence_cols:
        ev["facets"].append({"date": DATE_FACET})
    ev["facet_size"] = 10
    if evidence_fts:
        ev.update({"fts_table": evidence_fts, "fts_pk": "rowid"})
    if excerpts_fts:
        tables["excerpts"].update({"fts_table": excerpts_fts, "fts_pk": "rowid"})
    if EXCERPT_TABLE in tables and f"{EXCERPT_TABLE}_fts" in present:
        tables[EXCERPT_TABLE].update({"fts_table": f"{EXCERPT_TABLE}_fts", "fts_pk": "excerpt_id"})
    meta = {
        "title": study_title(settings),
        "description": study_description(settings),
        "source": "casestudy publish (consent-safe, pseudonymised)",
        "plugins": {
            "casestudy": {"database": DB_NAME, "matrix_cells": {_label(ics, wave): [ics or NO_ICS, wave] for ics, wave in cells}}
        },
        "databases": {
            DB_NAME: {
                "description": "The published evidence: start with the framework matrix, or the evidence table's facets.",
                "tables": tables,
                "queries": canned_queries(path),
            }
        },
    }
    if password_hash:
        meta["plugins"]["datasette-auth-passwords"] = {
            # a reference, resolved by Datasette from the environment: /-/metadata.json shows no secret
            f"{username}_password_hash": {"$env": PASSWORD_ENV},
            "http_basic_auth": True,
        }
        meta["allow"] = {"id": username}
    return meta

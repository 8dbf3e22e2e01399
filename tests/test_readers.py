"""Readers: real files in every format become turns and paragraphs (no database)."""

from __future__ import annotations

import pytest

import filemakers as fm
from casestudy.ingest import readers
from casestudy.errors import CasestudyError


def speakers(parsed):
    return [t.speaker for t in parsed.excerpts]


# --- transcripts ---------------------------------------------------------------------


def test_txt_bracket_timestamps(tmp_path):
    path = fm.write_txt_transcript(tmp_path / "t.txt", fm.interview("P03", 3), style="bracket")
    parsed = readers.read_transcript(path)
    assert speakers(parsed) == ["Interviewer", "P03"] * 3
    assert [t.turn for t in parsed.excerpts] == list(range(1, 7))
    assert [t.is_interviewer for t in parsed.excerpts] == [True, False] * 3
    assert parsed.excerpts[1].start_time == "00:00:17"
    assert parsed.excerpts[1].text == fm.ANSWERS[0]
    assert parsed.speakers == ["P03"]


def test_txt_plain_timestamps_and_continuation_lines(tmp_path):
    path = fm.write_text(
        tmp_path / "t.txt",
        "00:00:05 Interviewer: How is it governed?\n"
        "00:00:09 P07: Committees in common.\n"
        "Each board delegates some decisions.\n"
        "Note: the chair joined late.\n"
        "\n"
        "01:02:03 Interviewer: Thank you.\n",
    )
    parsed = readers.read_transcript(path)
    assert speakers(parsed) == ["Interviewer", "P07", "Interviewer"]
    assert parsed.excerpts[1].text == "Committees in common. Each board delegates some decisions. Note: the chair joined late."
    assert parsed.excerpts[2].start_time == "01:02:03"


def test_md_bold_labels(tmp_path):
    path = fm.write_md_transcript(tmp_path / "t.md", fm.interview("P02", 2))
    path.write_text(path.read_text() + "\n**P02**: An answer *with emphasis*.\n")
    parsed = readers.read_transcript(path)
    assert speakers(parsed) == ["Interviewer", "P02", "Interviewer", "P02", "P02"]
    assert "**" not in " ".join(t.text for t in parsed.excerpts)
    assert parsed.excerpts[-1].text == "An answer with emphasis."


def test_docx_transcript(tmp_path):
    path = fm.write_docx_transcript(tmp_path / "t.docx", fm.interview("Helen Marsh", 2))
    parsed = readers.read_transcript(path, known_labels={"Helen Marsh"})
    assert speakers(parsed) == ["Interviewer", "Helen Marsh"] * 2
    assert parsed.excerpts[0].is_interviewer and not parsed.excerpts[1].is_interviewer


def test_docx_transcript_labels_in_separate_bold_runs(tmp_path):
    path = fm.write_docx_transcript(tmp_path / "t.docx", fm.interview("Dr Smith", 2, "INTERVIEWER"), bold_runs=True)
    parsed = readers.read_transcript(path)
    assert speakers(parsed) == ["INTERVIEWER", "Dr Smith"] * 2
    assert [t.is_interviewer for t in parsed.excerpts] == [True, False] * 2


def test_vtt_teams_voices_and_multi_cue_turns(tmp_path):
    path = fm.write_vtt_teams(tmp_path / "t.vtt", fm.interview("P02", 2))
    parsed = readers.read_transcript(path)
    assert speakers(parsed) == ["Interviewer", "P02"] * 2
    answer = parsed.excerpts[1]
    assert answer.text == fm.ANSWERS[0]  # two cues joined into one turn, cue ids not in the text
    assert answer.start_time == "00:00:03.750" and answer.end_time == "00:00:11.000"


def test_vtt_zoom_names_inside_cues(tmp_path):
    path = fm.write_vtt_zoom(tmp_path / "t.vtt", fm.interview("Amina Shah", 2))
    parsed = readers.read_transcript(path)
    assert speakers(parsed) == ["Interviewer", "Amina Shah"] * 2
    assert parsed.excerpts[1].start_time == "00:00:04.500"
    assert not any(t.text[:1].isdigit() for t in parsed.excerpts)


def test_vtt_short_timestamps_and_crlf(tmp_path):
    path = fm.write_text(
        tmp_path / "t.vtt",
        "WEBVTT - Teams\n\nNOTE exported\n\n00:01.000 --> 00:04.000\n<v Interviewer>Hello.</v>\n\n"
        "00:04.000 --> 00:09.500\n<v P01>Hello, thanks.</v>\n",
        newline="\r\n",
    )
    parsed = readers.read_transcript(path)
    assert speakers(parsed) == ["Interviewer", "P01"]
    assert parsed.excerpts[1].start_time == "00:00:04.000"


@pytest.mark.parametrize(
    "content, problem",
    [
        ("WEBVTT\n\n1\n00:00:01.000 --> 00:0x:02.000\nInterviewer: hi\n", "malformed cue timing"),
        ("WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nhello there\n\n2\n00:00:02.000 --> 00:00:03.000\nyes indeed\n",
         "no speaker"),
        ("1\n00:00:01.000 --> 00:00:02.000\nInterviewer: hi\n", "WEBVTT"),
        ("WEBVTT\n\n", "no speaker turns"),
    ],
)
def test_vtt_bad(tmp_path, content, problem):
    path = fm.write_text(tmp_path / "bad.vtt", content)
    with pytest.raises(CasestudyError, match=problem) as info:
        readers.read_transcript(path)
    assert info.value.path == str(path)


def test_transcript_without_turns(tmp_path):
    path = fm.write_text(tmp_path / "notes.txt", "Some notes about the interview.\nNo speakers here at all.\n")
    with pytest.raises(CasestudyError, match="no speaker turns"):
        readers.read_transcript(path)


def test_transcript_with_only_the_interviewer(tmp_path):
    path = fm.write_text(tmp_path / "t.txt", "Interviewer: Hello?\nInterviewer: Anyone there?\n")
    with pytest.raises(CasestudyError, match="only the interviewer"):
        readers.read_transcript(path)


def test_windows_1252_and_crlf(tmp_path):
    text = "INTERVIEWER: What’s changed – if anything?\nRespondent 1: The £4m budget moved; naïve to think otherwise.\n"
    path = fm.write_text(tmp_path / "t.txt", text, encoding="cp1252", newline="\r\n")
    parsed = readers.read_transcript(path)
    assert speakers(parsed) == ["INTERVIEWER", "Respondent 1"]
    assert parsed.excerpts[0].is_interviewer
    assert parsed.excerpts[1].text == "The £4m budget moved; naïve to think otherwise."
    assert "\r" not in parsed.excerpts[0].text


# --- documents ----------------------------------------------------------------------


def test_docx_board_paper_headings_and_table(tmp_path):
    path = fm.write_docx_board_paper(tmp_path / "board.docx")
    parsed = readers.read_document(path)
    texts = [e.text for e in parsed.excerpts]
    assert parsed.title == "Board meeting in public"
    assert texts[0].startswith("The Board received the report")
    assert parsed.excerpts[0].heading.endswith("Provider collaboratives: development")
    table_row = next(e for e in parsed.excerpts if e.text.startswith("Ashmoor University Hospitals"))
    assert table_row.text == "Ashmoor University Hospitals | -4.2 | -3.9"
    assert table_row.heading.endswith("Finance report › Financial position")
    assert all(e.page is None for e in parsed.excerpts)


def test_pdf_pages_headers_hyphens_and_page_breaks(tmp_path):
    path = fm.write_pdf_board_paper(tmp_path / "board.pdf")
    parsed = readers.read_document(path)
    texts = [e.text for e in parsed.excerpts]
    assert parsed.pages == 3
    whole = " ".join(texts)
    assert "Board meeting in public" not in whole and "Page 1 of 3" not in whole and "of 3" not in whole
    assert "new organisation of its programme team" in whole  # "organ-" / "isation" joined
    # the paragraph cut by the page break is one excerpt, cited at the page where it starts
    cut = next(e for e in parsed.excerpts if e.text.startswith("The Chief Executive explained"))
    assert cut.text.endswith("its terms of reference were settled.") and cut.page == 1
    quality = next(e for e in parsed.excerpts if e.text.startswith("The Chief Nursing Officer"))
    assert quality.page == 3 and quality.heading == "3. Quality and safety"
    assert [e.page for e in parsed.excerpts] == sorted(e.page for e in parsed.excerpts)
    assert "1. Provider collaboratives" not in texts  # headings are context, not excerpts


def test_pdf_keeps_real_compound_hyphens(tmp_path):
    pages = [[("p", ["Members discussed the long-", "term plan and the step-", "down beds for the system."])]] * 2
    path = fm.write_pdf_board_paper(tmp_path / "c.pdf", pages=pages)
    text = readers.read_document(path).excerpts[0].text
    assert "long-term plan" in text and "step-down beds" in text


@pytest.mark.render
def test_pdf_made_by_libreoffice(tmp_path):
    docx_path = fm.write_docx_board_paper(tmp_path / "board.docx")
    try:
        pdf = fm.soffice_pdf(docx_path, tmp_path / "out")
    except Exception as exc:  # LibreOffice present but broken in this environment
        pytest.skip(f"soffice could not convert: {exc}")
    if pdf is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    parsed = readers.read_document(pdf)
    texts = [e.text for e in parsed.excerpts]
    assert any(t.startswith("The Board received the report on the development") for t in texts)
    assert all(e.page == 1 for e in parsed.excerpts)
    finance = next(e for e in parsed.excerpts if e.text.startswith("The Chief Finance Officer"))
    assert finance.heading and "Finance report" in finance.heading


@pytest.mark.parametrize(
    "maker, problem",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(fm.write_pdf_board_paper(p).read_bytes()[:700]), "not a readable PDF"),
        (lambda p: fm.write_pdf_without_text(p), "no extractable text"),
        (lambda p: p.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n"), "not a readable PDF"),
    ],
    ids=["empty", "truncated", "no-text", "garbage"],
)
def test_pdf_bad(tmp_path, maker, problem):
    path = tmp_path / "bad.pdf"
    maker(path)
    with pytest.raises(CasestudyError, match=problem) as info:
        readers.read_document(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    "content, problem",
    [(b"PK\x03\x04 not really a zip", "not a valid .docx"), (b"", "empty"), (b"hello world", "not a valid .docx")],
)
def test_docx_bad(tmp_path, content, problem):
    path = tmp_path / "bad.docx"
    path.write_bytes(content)
    with pytest.raises(CasestudyError, match=problem):
        readers.read_document(path)
    with pytest.raises(CasestudyError, match=problem):
        readers.read_transcript(path)


def test_docx_zip_without_document_part(tmp_path):
    import zipfile

    path = tmp_path / "bad.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    with pytest.raises(CasestudyError, match="not a valid .docx"):
        readers.read_document(path)


def test_txt_document_paragraphs_and_heading_lines(tmp_path):
    path = fm.write_text(
        tmp_path / "policy.txt",
        "DELEGATION FRAMEWORK\n\nThe ICB may delegate functions to a provider\ncollaborative through a lead provider con-\n"
        "tract.\n\n1. Scope\n\nAccountability remains with the ICB.\n",
    )
    parsed = readers.read_document(path)
    texts = [e.text for e in parsed.excerpts]
    assert "The ICB may delegate functions to a provider collaborative through a lead provider contract." in texts
    assert "DELEGATION FRAMEWORK" not in texts and parsed.title == "DELEGATION FRAMEWORK"
    assert parsed.excerpts[-1].heading == "DELEGATION FRAMEWORK › 1. Scope"


def test_md_document_headings(tmp_path):
    path = fm.write_text(tmp_path / "n.md", "# Notes\n\n## Item 1\n\nThe **two** committees met.\n\n- a bullet point\n- another\n")
    parsed = readers.read_document(path)
    assert [e.text for e in parsed.excerpts] == ["The two committees met.", "- a bullet point", "- another"]
    assert parsed.excerpts[0].heading == "Notes › Item 1"


def test_document_without_paragraphs(tmp_path):
    path = fm.write_text(tmp_path / "n.md", "# Only a heading\n\n## And another\n")
    with pytest.raises(CasestudyError, match="no paragraphs"):
        readers.read_document(path)


def test_binary_file_named_txt(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(CasestudyError, match="not a text file"):
        readers.read_document(path)


def test_unsupported_format(tmp_path):
    path = fm.write_text(tmp_path / "x.rtf", "{\\rtf1 hello}")
    with pytest.raises(CasestudyError, match="unsupported format .rtf"):
        readers.read_document(path)
    with pytest.raises(CasestudyError, match="unsupported format .rtf"):
        readers.read_transcript(path)


@pytest.mark.parametrize(
    "lines, joined",
    [
        (["a new organ-", "isation of the team"], "a new organisation of the team"),
        (["the long-", "term plan"], "the long-term plan"),
        (["NHS-", "England"], "NHS- England"),
        (["soft\u00ad", "hyphen"], "softhyphen"),
        (["2024-", "25 plan"], "2024-25 plan"),
    ],
)
def test_join_lines(lines, joined):
    assert readers.join_lines(lines) == joined


def test_speaker_labels_with_lower_case_surname_particles_are_turns(tmp_path):
    """Names like "van der Wielen" or "Nic an Tòisich" must not fold a participant's words
    into the interviewer's turn."""
    from casestudy.ingest.readers import parse_turn_lines

    lines = [
        "Interviewer: Who chairs the board?",
        "Jarosław van der Wielen: I do, since April.",
        "Interviewer: And the contract?",
        "Jarosław van der Wielen: We hold it as lead provider.",
        "Interviewer: One more thing.",
        "Eilidh Nic an Tòisich: I was not at that meeting.",
    ]
    turns = parse_turn_lines(lines, {"Eilidh Nic an Tòisich"}, tmp_path / "t.txt")
    assert [t.speaker for t in turns] == [
        "Interviewer", "Jarosław van der Wielen", "Interviewer", "Jarosław van der Wielen",
        "Interviewer", "Eilidh Nic an Tòisich",
    ]
    assert not any(t.is_interviewer and "lead provider" in t.text for t in turns)

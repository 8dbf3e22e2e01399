"""Readers: turn one file of evidence into a list of excerpts, without touching the database.

Transcripts (.txt .md .docx .vtt) become speaker turns; board papers, policies and
observation notes (.pdf .docx .txt .md) become paragraphs and table rows with their page
and heading.
Every problem is raised as a ``CasestudyError`` that names the file.
"""

from __future__ import annotations

import re
import statistics
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from casestudy.errors import CasestudyError
from casestudy.consent.pseudonyms import PARTICLES, fold

TRANSCRIPT_FORMATS = {".txt", ".md", ".docx", ".vtt"}
DOCUMENT_FORMATS = {".pdf", ".docx", ".txt", ".md"}
CONSENT_FORMATS = {".csv", ".xlsx"}

INTERVIEWER_LABELS = {"interviewer", "int", "i", "q", "researcher", "moderator", "facilitator"}
# Words that mark a label as the interviewer's wherever they appear: "Sarah Jones (Interviewer)".
INTERVIEWER_WORDS = {"interviewer", "interviewers", "researcher", "moderator", "facilitator"}
# Generic labels for the one participant of an interview: "Respondent 1", "Interviewee", "R2".
PARTICIPANT_LABEL = re.compile(r"(?i)(respondent|participant|interviewee|p|r)\s*\d*")
# First halves of compounds that keep their hyphen at a line break ("long-" / "term").
COMPOUND_HEADS = {
    "long", "short", "self", "cross", "non", "multi", "step", "well", "lead", "full", "part", "high", "low",
    "year", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "face", "follow",
    "joint", "place", "system", "co", "mid", "semi", "anti", "ex", "whole", "risk", "gain", "cost", "value",
    "patient", "decision", "evidence", "data", "fixed", "front", "open", "closed", "health",
}


@dataclass
class Excerpt:
    """One turn of a transcript or one paragraph of a document."""

    text: str
    speaker: str | None = None
    is_interviewer: bool = False
    turn: int | None = None
    start_time: str | None = None
    end_time: str | None = None
    page: int | None = None
    heading: str | None = None


@dataclass
class ParsedFile:
    excerpts: list[Excerpt]
    title: str | None = None
    pages: int | None = None
    speakers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the user should check


# --- plain text ---------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The file's text (UTF-8, with or without BOM; UTF-16 as Word's "Unicode text" saves it;
    else Windows-1252); empty is an error."""
    data = path.read_bytes()
    utf16 = _utf16_encoding(data)
    if utf16:
        try:
            data = data.decode(utf16).lstrip("\ufeff").encode("utf-8")
        except UnicodeDecodeError:
            raise CasestudyError("not a valid UTF-16 text file", path) from None
    if not data.strip():
        raise CasestudyError("file is empty", path)
    if b"\x00" in data[:4096]:
        raise CasestudyError("not a text file (binary content)", path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _utf16_encoding(data: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` for UTF-16 text (by its BOM, or, without one, by the zero
    byte beside almost every ASCII character); None otherwise."""
    if data[:2] == b"\xff\xfe":
        return "utf-16-le"
    if data[:2] == b"\xfe\xff":
        return "utf-16-be"
    sample = data[:4096]
    if len(sample) >= 8 and len(sample) % 2 == 0:
        if sample[1::2].count(0) > 0.9 * (len(sample) // 2) and sample[0::2].count(0) == 0:
            return "utf-16-le"
        if sample[0::2].count(0) > 0.9 * (len(sample) // 2) and sample[1::2].count(0) == 0:
            return "utf-16-be"
    return None


_MD_EMPHASIS = re.compile(r"(\*\*|__|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w))")


def strip_markdown(line: str) -> str:
    """Remove bold/italic markers and a leading blockquote from one Markdown line."""
    line = re.sub(r"^\s*>\s?", "", line)
    return _MD_EMPHASIS.sub("", line)


# --- .docx --------------------------------------------------------------------------


@dataclass
class Block:
    """A paragraph-level block of a document, before it becomes an excerpt."""

    text: str
    page: int | None = None
    is_heading: bool = False
    level: int = 0
    open_end: bool = False  # PDF: a paragraph's last line runs to the right margin, or a table row
    # is the last of a table reaching the foot of the page (cut by a page break?)
    cells: tuple[str, ...] = ()  # a table row's cells (text is them joined by " | ")
    row: int | None = None  # a table row's number in its table (0: the first)
    places: tuple[int, ...] = ()  # a PDF table row's column of each cell (0: the first)
    columns: int = 0  # how many columns a PDF table row's table has
    unruled: bool = False  # on a PDF page with text set out in columns but no rules (a table read as prose?)


def _open_docx(path: Path):
    import docx  # python-docx

    if path.stat().st_size == 0:
        raise CasestudyError("file is empty", path)
    try:
        return docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise CasestudyError(f"not a valid .docx file ({exc.__class__.__name__})", path) from None
    except Exception as exc:  # lxml errors on corrupt XML parts
        raise CasestudyError(f"not a valid .docx file ({exc})", path) from None


def read_docx_blocks(path: Path) -> tuple[list[Block], str | None]:
    """Body paragraphs and table rows of a .docx in reading order, and its title property."""
    from docx.table import Table

    document = _open_docx(path)
    # style names by id, looked up once each: ``paragraph.style`` searches every style, per paragraph
    from docx.styles import BabelFish

    style_names: dict[str, str] = {}

    def style_name(style_id: str) -> str:
        if style_id not in style_names:
            element = document.styles.element.get_by_id(style_id)
            name = element.name_val if element is not None else None
            style_names[style_id] = BabelFish.internal2ui(name) if name else ""
        return style_names[style_id]

    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for number, row in enumerate(item.rows):
                cells: list[str] = []
                previous = None
                for cell in row.cells:
                    # a merged cell comes once per grid column it spans: keep it once, but
                    # keep two neighbouring cells that say the same ("0%" | "0%")
                    value = " ".join(cell.text.split())
                    if value and cell._tc is not previous:
                        cells.append(value)
                    previous = cell._tc
                if cells:
                    blocks.append(Block(" | ".join(cells), cells=tuple(cells), row=number))
            continue
        text = item.text.strip()
        if not text:
            continue
        style_id = item._p.style
        style = style_name(style_id) if style_id else ""
        level = _heading_level(style)
        blocks.append(Block(text, is_heading=level > 0, level=level))
    title = (document.core_properties.title or "").strip() or None
    return blocks, title


def _heading_level(style_name: str) -> int:
    if style_name == "Title":
        return 1
    match = re.match(r"Heading (\d)", style_name)
    return int(match.group(1)) if match else 0


# --- PDF ----------------------------------------------------------------------------

_PAGE_NUMBER = re.compile(r"^(page\s*)?\d+(\s*(of|/)\s*\d+)?$", re.I)
# bullet glyphs, with the private-use characters that Word's Symbol and Wingdings bullets
# leave in a PDF's text (U+F0B7 is Symbol's round bullet, U+F0A7 Wingdings' square, ...)
BULLET_GLYPHS = "•▪◦●‣∙·■□➢►✓\uf0b7\uf0a7\uf076\uf0d8\uf0fc\uf0a8\uf06e"
_BULLET = re.compile(rf"^\s*([{BULLET_GLYPHS}\-–]|\d+[.)])\s+")
_CID_GLYPH = re.compile(r"\(cid:\d+\)")
# how a paragraph of a board paper may open: a paragraph number (2.3, 4.1.2) or a field label
# of a cover sheet ("Meeting:", "Report author:", "Purpose:")
_OPENER = re.compile(r"^(\d+(\.\d+)+\s+\S|[A-Z][\w&/()'’-]*( [\w&/()'’-]+){0,3}:\s+\S)")


def read_pdf_blocks(path: Path) -> tuple[list[Block], int]:
    """Paragraphs of a PDF with their page numbers; running headers and footers removed."""
    if path.stat().st_size == 0:
        raise CasestudyError("file is empty", path)
    try:
        pages = _pdfium_pages(path)
    except Exception:  # pdfium refused it: let pdfplumber read it, or name the problem
        pages = None
    if not pages or not any(lines for _, _, lines in pages):
        pages = _pdfplumber_pages(path)
    if not pages:
        raise CasestudyError("PDF has no pages", path)
    lines_by_page = _drop_running_lines(pages)
    body_size = _body_font_size(lines_by_page)
    rights = [_wrap_edge(lines, width, body_size) for (_, width, _), lines in zip(pages, lines_by_page)]
    document_pitch = _line_pitches(
        (line for lines, right in zip(lines_by_page, rights) for line in _marked_wrapped(lines, right)), wrapped_only=True
    )
    fallback_pitch = _line_pitches(line for lines in lines_by_page for line in lines)
    for size, pitch in fallback_pitch.items():
        # no wrapped line of this size anywhere (a page or paper of one-line paragraphs): the
        # closest lines may already be a paragraph apart, so take at most a single-spaced line
        document_pitch.setdefault(size, min(pitch, size * 1.25))
    blocks: list[Block] = []
    for page_number, (lines, right) in enumerate(zip(lines_by_page, rights), start=1):
        page_blocks = list(_pdf_page_blocks(lines, page_number, body_size, document_pitch, right))
        if _columns_without_rules(lines):
            for block in page_blocks:
                block.unruled = True
        blocks.extend(page_blocks)
    return _join_across_pages(blocks), len(pages)


def _columns_without_rules(lines: list[dict]) -> bool:
    """Three lines in a row, outside any ruled table, each with a gap of more than two ems
    between words: text set out in columns (a table without borders), read as prose."""
    run = 0
    for line in lines:
        run = run + 1 if line.get("columned") else 0
        if run >= 3:
            return True
    return False


def _pdfium_pages(path: Path) -> list[tuple[float, float, list[dict]]]:
    """Each page's height and text lines, read with PDFium (C; pdfplumber's own renderer
    dependency) instead of pdfminer (pure Python, ~20x slower per character).

    Characters are given the fields pdfplumber's chars have (box from PDFium's loose char
    box, the font size, font name, upright) and grouped into lines by pdfplumber's own
    word and line clustering, so lines, headings, margins and hyphens come out as with
    ``page.extract_text_lines()``. PDFium's generated spaces and line breaks are skipped
    (pdfplumber inserts its own from the gaps); a hyphen PDFium marks at a line end is "-".
    Font size, name and angle are read once per text object, not per character.
    """
    import ctypes
    import math

    import pypdfium2 as pdfium
    import pypdfium2.raw as raw
    from pdfplumber.utils.text import chars_to_textmap

    from casestudy.ingest.pdftables import pdfium_rules, ruled_tables, take_tables

    text_object = ctypes.cast(raw.FPDFText_GetTextObject, ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int))
    get_unicode, get_box = raw.FPDFText_GetUnicode, raw.FPDFText_GetLooseCharBox
    rect, name, flags = raw.FS_RECTF(), ctypes.create_string_buffer(256), ctypes.c_int()
    get_origin, origin_x, origin_y = raw.FPDFText_GetCharOrigin, ctypes.c_double(), ctypes.c_double()
    pages = []
    document = pdfium.PdfDocument(str(path))
    try:
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            try:
                width, height = page.get_size()
                tp = textpage.raw
                tp_address = ctypes.cast(tp, ctypes.c_void_p)
                chars: list[dict] = []
                styles: dict[int, tuple] = {}
                generated_space = False
                for i in range(raw.FPDFText_CountChars(tp)):
                    code = get_unicode(tp, i)
                    if code == 0x20:
                        if raw.FPDFText_IsGenerated(tp, i) == 1:
                            generated_space = True
                            continue
                    elif code in (0x0D, 0x0A, 0, 0xFFFE, 0xFFFF):
                        continue
                    elif code == 0x02 and raw.FPDFText_IsHyphen(tp, i) == 1:
                        code = 0x2D
                    obj = text_object(tp_address, i)
                    style = styles.get(obj) if obj else None
                    if style is None:
                        length = raw.FPDFText_GetFontInfo(tp, i, name, 256, flags)
                        angle = raw.FPDFText_GetCharAngle(tp, i)
                        style = (
                            raw.FPDFText_GetFontSize(tp, i),
                            name.raw[: max(length - 1, 0)].decode("utf-8", "replace"),
                            angle < 1e-3 or angle > 2 * math.pi - 1e-3,
                        )
                        if obj:
                            styles[obj] = style
                    get_box(tp, i, rect)
                    get_origin(tp, i, origin_x, origin_y)
                    size = style[0]
                    # from the baseline: loose boxes of some glyphs reach lower than others
                    bottom = height - origin_y.value + size * 0.2
                    if generated_space and chars and 0.1 * size < rect.left - chars[-1]["x1"] < 3:
                        # a word gap PDFium saw but narrower than pdfplumber's 3 pt tolerance
                        # (Chromium writes no space glyphs; "of the" would read "ofthe")
                        gap = chars[-1]
                        chars.append({**gap, "text": " ", "x0": gap["x1"], "x1": rect.left})
                    generated_space = False
                    chars.append({"text": chr(code), "x0": rect.left, "x1": rect.right, "top": bottom - size,
                                  "bottom": bottom, "doctop": bottom - size, "size": size, "fontname": style[1],
                                  "upright": style[2]})
                rules = pdfium_rules(page.raw, height) if chars else []
            finally:
                textpage.close()
                page.close()
            tables, chars = take_tables(ruled_tables(rules), chars, join_lines) if rules else ([], chars)
            lines = []
            if chars:
                textmap = chars_to_textmap(chars, layout_bbox=(0, 0, width, height), layout_width=width, layout_height=height)
                lines = [_summarise_line(line) for line in textmap.extract_text_lines(strip=True, return_chars=True)]
            pages.append((height, width, _with_tables(lines, tables, height)))
    finally:
        document.close()
    return pages


def _pdfplumber_pages(path: Path) -> list[tuple[float, float, list[dict]]]:
    """Each page's height and text lines with pdfplumber (pdfminer): the fallback, and the
    reader whose errors name a bad file."""
    import pdfplumber
    from pdfplumber.utils.text import chars_to_textmap

    from casestudy.ingest.pdftables import pdfplumber_rules, ruled_tables, take_tables

    try:
        with pdfplumber.open(str(path)) as pdf:
            pages = []
            for page in pdf.pages:
                # keep what the layout needs per line, not every character's dict, and let
                # pdfplumber drop the page's objects: memory stays flat on long documents
                tables, chars = take_tables(ruled_tables(pdfplumber_rules(page)), page.chars, join_lines)
                if tables:
                    textmap = chars_to_textmap(chars, layout_bbox=page.bbox, layout_width=page.width, layout_height=page.height)
                    lines = [_summarise_line(line) for line in textmap.extract_text_lines(strip=True, return_chars=True)]
                else:
                    lines = [_summarise_line(line) for line in page.extract_text_lines(return_chars=True)]
                pages.append((page.height, page.width, _with_tables(lines, tables, page.height)))
                page.close()
    except Exception as exc:
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
        if "password" in inner.__class__.__name__.lower() or "encrypt" in str(inner).lower():
            raise CasestudyError("PDF is password-protected; save an unprotected copy and ingest that", path) from None
        detail = f"{inner.__class__.__name__}: {inner}".rstrip(": ")
        raise CasestudyError(f"not a readable PDF ({detail})", path) from None
    return pages


def _with_tables(lines: list[dict], tables: list[dict], height: float) -> list[dict]:
    """The page's text lines with its tables (``pdftables.take_tables`` items) in reading
    order: each table before the first line below its top. A table that reaches the page's
    bottom fifth is marked ``cut``: the page break may have cut its last row."""
    for table in sorted(tables, key=lambda t: t["top"], reverse=True):
        table["cut"] = table["bottom"] > height * 0.8
        index = next((i for i, line in enumerate(lines) if line.get("rows") is None and line["top"] > table["top"]), len(lines))
        lines.insert(index, table)
    return lines


def _line_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _drop_running_lines(pages: list[tuple[float, float, list[dict]]]) -> list[list[dict]]:
    """Remove lines repeated in the top or bottom margin of most pages, and page numbers."""
    margin_counts: Counter[str] = Counter()
    for height, _, lines in pages:
        keys = {_line_key(l["text"]) for l in lines if _in_margin(l, height) and "rows" not in l}
        margin_counts.update(keys)
    threshold = max(2, len(pages) // 2 + (len(pages) % 2))
    kept = []
    for height, _, lines in pages:
        kept.append(
            [
                l
                for l in lines
                if "rows" in l or not (
                    _in_margin(l, height)
                    and (margin_counts[_line_key(l["text"])] >= threshold or _PAGE_NUMBER.match(l["text"].strip()))
                )
            ]
        )
    return kept


def _in_margin(line: dict, height: float) -> bool:
    return line["top"] < height * 0.1 or line["bottom"] > height * 0.9


def _summarise_line(line: dict) -> dict:
    chars = [c for c in line.get("chars", []) if c.get("text", "").strip()]
    sizes = [c.get("size", 0) for c in chars]
    fonts = [c.get("fontname", "") for c in chars]
    first_word = len(line["text"].split()[0]) if line["text"].split() else 0
    return {
        "text": line["text"],
        "top": line["top"],
        "bottom": line["bottom"],
        "x0": line.get("x0", 0.0),
        "x1": line.get("x1", 0.0),
        "size": round(statistics.median(sizes), 1) if sizes else 0.0,
        "bold": bool(fonts) and all("bold" in f.lower() for f in fonts),
        # how wide the line's first word is: had it fitted on the line above, that line was not wrapped
        "first_word": chars[min(first_word, len(chars)) - 1]["x1"] - chars[0]["x0"] if chars and first_word else 0.0,
        # a gap of over two ems between words: cells of a table without borders, or tab stops
        "columned": any(b["x0"] - a["x1"] > 2 * (a.get("size") or 10) for a, b in zip(chars, chars[1:])),
    }


def _line_size(line: dict) -> float:
    if "size" in line:
        return line["size"]
    sizes = [c.get("size", 0) for c in line.get("chars", []) if c.get("text", "").strip()]
    return round(statistics.median(sizes), 1) if sizes else 0.0


def _line_bold(line: dict) -> bool:
    if "bold" in line:
        return line["bold"]
    fonts = [c.get("fontname", "") for c in line.get("chars", []) if c.get("text", "").strip()]
    return bool(fonts) and all("bold" in f.lower() for f in fonts)


def _body_font_size(lines_by_page: list[list[dict]]) -> float:
    weights: Counter[float] = Counter()
    for lines in lines_by_page:
        for line in lines:
            weights[_line_size(line)] += len(line["text"])
            weights.update(line.get("char_sizes", {}))  # a table's letters
    return weights.most_common(1)[0][0] if weights else 0.0


def _pitch_pairs(lines: Iterable[dict], wrapped_only: bool = False) -> Iterator[tuple[float, float]]:
    """(font size, top-to-top distance) of consecutive lines of one size. Tops, not bottoms:
    PDFium's boxes of descenders vary by a point or two, the tops of a line's letters do not."""
    previous = None
    for line in lines:
        if (
            previous is not None
            and line.get("size")
            and line["size"] == previous["size"]
            and line["top"] > previous["top"]
            and (not wrapped_only or previous.get("wrapped"))
        ):
            yield line["size"], line["top"] - previous["top"]
        previous = line


def _wrap_edge(lines: list[dict], page_width: float, body_size: float) -> float | None:
    """Where the page's text lines wrap: the right end of its longest body line when many
    lines end there (four or more, a third of them, within an em: a text block's edge);
    otherwise (a page of short lines, whose longest line says nothing) the page's width less
    the left margin, if that is further."""
    body = [line for line in lines if _line_size(line) == body_size and line.get("x1")]
    if not body:
        return None
    right = max(line["x1"] for line in body)
    at_edge = sum(1 for line in body if line["x1"] >= right - body_size)
    if at_edge >= 4 and at_edge * 3 >= len(body):
        return right
    left = min(line["x0"] for line in body)
    return max(right, page_width - left)


def _marked_wrapped(lines: list[dict], right: float | None) -> list[dict]:
    """``lines``, each marked ``wrapped`` when the typesetter had to break it: it ends in a
    hyphen, or the next line's first word would not have fitted after it before ``right``.
    A line that stops short although the next word would have fitted was ended on purpose."""
    for line, following in zip(lines, lines[1:] + [None]):
        line["wrapped"] = following is not None and right is not None and (
            line["text"].rstrip().endswith("-")
            or line["x1"] + _line_size(line) * 0.25 + following.get("first_word", 0.0) > right
        )
    return lines


def _line_pitches(lines: Iterable[dict], wrapped_only: bool = False) -> dict[float, float]:
    """The usual line pitch (top to top) of each font size in ``lines``.

    It is the lowest cluster of the distances between consecutive lines: lines inside a
    paragraph are the closest together, paragraph breaks only ever add space. (A median
    would be the paragraph spacing on a page of one- and two-line paragraphs.) With
    ``wrapped_only``, only pairs whose upper line was wrapped (``_marked_wrapped``) count:
    those two lines are certainly one paragraph.
    """
    by_size: dict[float, list[float]] = {}
    for size, pitch in _pitch_pairs(lines, wrapped_only):
        if pitch >= size * 0.8:  # overlapping or superscript lines say nothing about spacing
            by_size.setdefault(size, []).append(pitch)
    pitches = {}
    for size, values in by_size.items():
        values.sort()
        close = [v for v in values if v <= values[0] + max(1.0, size * 0.15)]
        pitches[size] = statistics.median(close)
    return pitches


def _paragraph_break(pitch: float, usual: float, size: float) -> bool:
    """More space than a line's pitch: Word's 6-8 pt after, LibreOffice's 0.25 cm, a browser's
    1 em margin, an extra 4 mm — all above a quarter of the font size (or 1.5 pt)."""
    return pitch > usual + max(size * 0.25, 1.5)


def _pdf_page_blocks(
    lines: list[dict], page: int, body_size: float, document_pitch: dict[float, float] | None = None, right: float | None = None
) -> Iterator[Block]:
    """The page's lines grouped into paragraphs and headings.

    A paragraph ends at a vertical gap larger than the page's own line pitch for that
    font size (learnt from wrapped lines only; the document's, or at most 1.25 ems, on a
    page without any: a page of one-line paragraphs), at a first-line indent, a bullet, a
    paragraph number or field label after a line ended on purpose, a change between
    heading and body text, or a jump back up (a new column). A ruled table (an item with
    ``rows``, see ``pdftables``) gives one block per row, in its place among the paragraphs.
    """
    document_pitch = document_pitch or {}
    lines = [line for line in lines if line["text"].strip() or "rows" in line]
    page_pitch = _line_pitches(_marked_wrapped(lines, right), wrapped_only=True)
    usual: dict[float, float] = {}
    for size in set(page_pitch) | set(document_pitch):
        mine, whole = page_pitch.get(size), document_pitch.get(size)
        if mine is None or (whole is not None and _paragraph_break(mine, whole, size)):
            mine = whole
        usual[size] = mine
    left, right = _text_edges(lines, body_size)
    current: list[str] = []
    current_heading = False
    current_bullet = False
    previous = None
    for line in lines:
        if "rows" in line:  # a ruled table: a block per row, between the paragraphs around it
            if current:
                yield _block(current, page, current_heading, previous, right, body_size)
                current = []
            for number, (row, places) in enumerate(zip(line["rows"], line["places"])):
                cells = tuple(_CID_GLYPH.sub("•", cell) for cell in row)
                last_row = number == len(line["rows"]) - 1
                yield Block(" | ".join(cells), page=page, cells=cells, row=number, places=places,
                            columns=line["columns"], open_end=last_row and line.get("cut", False))
            previous, current_heading, current_bullet = None, False, False
            continue
        text = _CID_GLYPH.sub("•", line["text"]).strip()  # unmapped bullet glyphs, e.g. "(cid:127)"
        size = _line_size(line)
        heading = len(text.split()) <= 16 and (size >= body_size * 1.15 or (_line_bold(line) and not text.endswith(".")))
        bullet = bool(_BULLET.match(text))
        starts_new = (
            previous is None
            or heading != current_heading
            or heading
            and size != _line_size(previous)
            or bullet
            or line["top"] < previous["top"]  # a new column or a jump back up
            or _gap_breaks(previous, line, size, usual)
            # "2.3 The committee…" or "Meeting: ICB Board" after a line ended on purpose
            or previous.get("wrapped") is False and _OPENER.match(text) is not None
            or not current_bullet
            and size == body_size  # a table's wrapped cell is indented too, in its own size
            and _indented(line, left, size)
            and (not _indented(previous, left, size) or _ends_short(previous, right))
        )
        if starts_new:
            if current:
                yield _block(current, page, current_heading, previous, right, body_size)
                current = []
            current_bullet = bullet
        current.append(text)
        current_heading = heading
        previous = line
    if current:
        yield _block(current, page, current_heading, previous, right, body_size)


def _gap_breaks(previous: dict, line: dict, size: float, usual: dict[float, float]) -> bool:
    if size == _line_size(previous) and usual.get(size):
        return _paragraph_break(line["top"] - previous["top"], usual[size], size)
    # lines of different sizes (or no pitch known): compare the white space with the font size
    return line["top"] - previous["bottom"] > max(size, _line_size(previous)) * 0.6 + 1.0


def _text_edges(lines: list[dict], body_size: float) -> tuple[float | None, float | None]:
    """The page's left margin (the commonest start of body lines) and right edge of text."""
    body = [line for line in lines if _line_size(line) == body_size and line.get("x1")]
    if not body:
        return None, None
    starts = Counter(round(line["x0"]) for line in body)
    # the leftmost start shared by two lines (or the commonest): with first-line indents
    # and short paragraphs, indented starts can outnumber the margin's
    shared = [x for x, n in starts.items() if n >= 2]
    left = min(shared) if shared else starts.most_common(1)[0][0]
    return left, max(line["x1"] for line in body)


def _indented(line: dict, left: float | None, size: float) -> bool:
    """A first-line indent: the line starts one to eight ems right of the left margin."""
    return left is not None and left + size * 0.7 < line.get("x0", left) < left + size * 8


def _ends_short(line: dict, right: float | None) -> bool:
    """The line stops well before the right edge of the text: the last line of a paragraph."""
    return right is not None and line.get("x1", right) < right - _line_size(line) * 6


def _block(lines: list[str], page: int, heading: bool, last: dict, right: float | None, body_size: float) -> Block:
    # body text to the right margin: a page break may have cut it (a table row is not body text)
    open_end = not heading and _line_size(last) == body_size and right is not None and not _ends_short(last, right)
    return Block(join_lines(lines), page=page, is_heading=heading, level=1 if heading else 0, open_end=open_end)


def _join_across_pages(blocks: list[Block]) -> list[Block]:
    """Join a paragraph that a page break cut in two: no full stop, and the next page goes on
    in lower case or the last line ran to the right margin. A table that goes on over a page
    break and repeats its header row there does not give that row twice, and a row the page
    break cut (the next page's first row has nothing in the first column) is one row."""
    joined: list[Block] = []
    header: tuple[str, ...] = ()
    for block in blocks:
        last = joined[-1] if joined else None
        new_page = last is not None and last.page != block.page
        if new_page and block.row == 0 and last.cells and block.cells == header:
            continue  # the header row again, at the top of the table's next page
        if new_page and _row_goes_on(last, block):
            by_place = dict(zip(last.places, last.cells))
            for place, cell in zip(block.places, block.cells):
                by_place[place] = join_lines([by_place[place], cell]) if place in by_place else cell
            last.places = tuple(sorted(by_place))
            last.cells = tuple(by_place[place] for place in last.places)
            last.text = " | ".join(last.cells)
            last.open_end = block.open_end  # a row long enough to be cut again
            continue
        if block.row == 0:
            header = block.cells
        if (
            last is not None
            and not last.is_heading
            and not block.is_heading
            and not last.cells
            and not block.cells
            and last.page != block.page
            and not re.search(r"[.:;!?)\"”’]$", last.text)
            and (block.text[:1].islower() or last.open_end and not _BULLET.match(block.text))
        ):
            last.text = join_lines([last.text, block.text])
            last.open_end = block.open_end
            continue
        joined.append(block)
    return joined


def _row_goes_on(last: Block, block: Block) -> bool:
    """``block``, a PDF table's first row on a page, is the rest of ``last``, the last row
    on the page before of a table that ran to the foot of that page: the same number of
    columns, and ``block`` has no first-column cell while ``last`` has one."""
    return (
        bool(last.places and block.places)
        and last.open_end
        and last.columns == block.columns
        and 0 in last.places
        and 0 not in block.places
    )


def join_lines(lines: Iterable[str]) -> str:
    """Reflow wrapped lines into one paragraph, undoing end-of-line hyphenation."""
    text = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if not text:
            text = line
        elif re.search(r"[A-Za-z]-$", text) and line[:1].islower():
            head = re.search(r"([A-Za-z]+)-$", text).group(1).lower()
            # "organ-" + "isation" is a word the typesetter broke; "long-" + "term" is a compound
            text = text + line if head in COMPOUND_HEADS else text[:-1] + line
        elif re.search(r"\d-$", text) and line[:1].isdigit():
            text = text + line  # "2024-" + "25"
        elif text.endswith("\u00ad"):
            text = text[:-1] + line
        else:
            text = f"{text} {line}"
    return text.replace("\u00ad", "")


# --- documents: paragraphs with headings as context --------------------------------


def text_blocks(text: str, markdown: bool) -> list[Block]:
    """Blank-line separated paragraphs of a .txt/.md; Markdown headings and bullets kept apart."""
    blocks: list[Block] = []
    current: list[str] = []

    def flush():
        if current:
            blocks.append(Block(join_lines(current)))
            current.clear()

    for raw in text.split("\n"):
        line = raw.rstrip()
        if not line.strip():
            flush()
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line) if markdown else None
        if heading:
            flush()
            blocks.append(Block(strip_markdown(heading.group(2)).strip(), is_heading=True, level=len(heading.group(1))))
            continue
        if markdown:
            line = strip_markdown(line)
        if _BULLET.match(line) or (markdown and line.lstrip().startswith("|")):
            flush()
        current.append(line)
        if markdown and line.lstrip().startswith("|"):
            flush()
    flush()
    blocks = [b for b in blocks if b.text and not re.fullmatch(r"[|\-:\s]+", b.text)]
    if not markdown:
        _mark_plain_headings(blocks)
    return blocks


_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)[.)]?\s+\S")


def _mark_plain_headings(blocks: list[Block]) -> None:
    """In plain text, a paragraph of one short line without closing punctuation is a heading:
    ``DELEGATION FRAMEWORK``, ``1. Scope``, ``Finance report``."""
    body_follows = [any(not _heading_like(b.text) for b in blocks[i + 1:i + 4]) for i in range(len(blocks))]
    for index, block in enumerate(blocks):
        if not (_heading_like(block.text) and body_follows[index]):
            continue
        numbered = _NUMBERED.match(block.text)
        if index == 0 or (block.text.isupper() and not numbered):
            level = 1
        elif numbered:
            level = 1 + numbered.group(1).count(".") + 1
        else:
            level = 2
        block.is_heading, block.level = True, level


def _heading_like(text: str) -> bool:
    words = text.split()
    return (
        "\n" not in text
        and 0 < len(words) <= 10
        and len(text) <= 80
        and not re.search(r"[.,;:!?)\]|]$", text)
        and (text[:1].isupper() or text[:1].isdigit())
        and not re.match(rf"^\s*[{BULLET_GLYPHS}\-–]", text)
        and "|" not in text
    )


def blocks_to_excerpts(blocks: list[Block], path: Path) -> list[Excerpt]:
    """Paragraph blocks become excerpts; headings become the context of what follows."""
    excerpts: list[Excerpt] = []
    trail: dict[int, str] = {}
    for block in blocks:
        if block.is_heading:
            level = max(block.level, 1)
            trail = {k: v for k, v in trail.items() if k < level}
            trail[level] = block.text
            continue
        text = re.sub(rf"^[{BULLET_GLYPHS}]\s*", "", " ".join(block.text.split()))
        if not text:
            continue
        heading = " › ".join(trail[k] for k in sorted(trail)) or None
        excerpts.append(Excerpt(text=text, page=block.page, heading=heading))
    if not excerpts:
        raise CasestudyError("no paragraphs of text found", path)
    return excerpts


def read_document(path: Path) -> ParsedFile:
    """A board paper, policy or observation note as paragraph excerpts."""
    suffix = path.suffix.lower()
    title = None
    pages = None
    if suffix == ".pdf":
        blocks, pages = read_pdf_blocks(path)
        if not any(b.text.strip() for b in blocks):
            raise CasestudyError("PDF has no extractable text (a scan? run OCR first)", path)
    elif suffix == ".docx":
        blocks, title = read_docx_blocks(path)
    elif suffix in (".txt", ".md"):
        blocks = text_blocks(read_text(path), markdown=suffix == ".md")
    else:
        raise CasestudyError(f"unsupported format {suffix or '(none)'} for a document (use .pdf, .docx, .txt or .md)", path)
    if title is None:
        title = next((b.text for b in blocks if b.is_heading), None)
    parsed = ParsedFile(excerpts=blocks_to_excerpts(blocks, path), title=title, pages=pages)
    unruled = sorted({b.page for b in blocks if b.unruled})
    if unruled:
        parsed.warnings.append(
            f"page{'s' if len(unruled) > 1 else ''} {', '.join(map(str, unruled))}: text set out in columns without "
            "ruled lines (a table without borders?) was read as paragraphs; check those excerpts"
        )
    return parsed


# --- transcripts ---------------------------------------------------------------------

_TS = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?"
_TURN = re.compile(
    rf"^\s*(?:[\[(]?(?P<ts>{_TS})[\])]?\s*[-–]?\s*)?"
    r"(?P<label>[^\W\d_][\w.'’()\- ]{0,48}?)"
    rf"\s*(?:[\[(](?P<ts2>{_TS})[\])])?\s*:\s+(?P<text>\S.*)$"
)
_TIMESTAMP_ONLY = re.compile(rf"^\s*[\[(]?{_TS}[\])]?\s*$")
# A speaker label alone on its line, the words on the next (Otter.ai, many typists):
# "Helen Marsh  0:03", "INTERVIEWER", "[00:01:23] P03".
_LABEL_LINE = re.compile(
    rf"^\s*(?:[\[(]?(?P<ts>{_TS})[\])]?\s+)?(?P<label>[^\W\d_][\w.'’()\- ]{{0,48}}?)"
    rf"\s*(?:[\[(]?(?P<ts2>{_TS})[\])]?)?\s*:?\s*$"
)


def is_interviewer_label(label: str) -> bool:
    plain = re.sub(r"[\d()]+", " ", label.lower()).strip()
    words = re.findall(r"[a-z]+", plain)
    first = words[0] if words else plain
    if first in INTERVIEWER_LABELS or first.startswith("interviewer"):
        return True
    return any(w in INTERVIEWER_WORDS for w in words)


def _plausible_label(label: str) -> bool:
    """A speaker label: up to five capitalised words; lower-case surname particles may stand
    between them ("Jarosław van der Wielen", "Eilidh Nic an Tòisich")."""
    words = label.split()
    if not 0 < len(words) <= 5:
        return False
    inner = set(range(1, len(words) - 1))
    return all(
        w[:1].isupper() or w[:1].isdigit() or w[:1] == "(" or (i in inner and _is_name_particle(w))
        for i, w in enumerate(words)
    )


def _is_name_particle(word: str) -> bool:
    return fold(word).lower() in PARTICLES or word.lower() in {"an", "y"}


def parse_turn_lines(lines: list[str], known_labels: set[str], path: Path, _merging: bool = False) -> list[Excerpt]:
    """Speaker turns from lines like ``Interviewer: …``, ``P03: …``, ``[00:01:23] Name: …``.

    A label counts as a speaker when it is an interviewer label, a participant ID, a
    known name, or recurs in the file; other ``Word: …`` lines continue the turn.
    """
    candidates = []
    for line in lines:
        match = _TURN.match(line)
        candidates.append(match if match and _plausible_label(match.group("label").strip()) else None)
    counts = Counter(m.group("label").strip() for m in candidates if m)
    known = {k.lower() for k in known_labels}

    def accepted(label: str) -> bool:
        return (
            is_interviewer_label(label)
            or re.fullmatch(r"P\d+", label) is not None
            or PARTICIPANT_LABEL.fullmatch(label) is not None
            or label.lower() in known
            or counts[label] >= 2
        )

    turns: list[Excerpt] = []
    for line, match in zip(lines, candidates):
        if not line.strip() or _TIMESTAMP_ONLY.match(line):
            continue
        if match and accepted(match.group("label").strip()):
            label = match.group("label").strip()
            turns.append(
                Excerpt(
                    text=match.group("text").strip(),
                    speaker=label,
                    is_interviewer=is_interviewer_label(label),
                    start_time=_normalise_time(match.group("ts") or match.group("ts2")),
                )
            )
        elif turns:
            turns[-1].text = join_lines([turns[-1].text, line])
        # text before the first turn (a heading, a note about the recording) is preamble
    if len({t.speaker for t in turns}) < 2 and not _merging:
        merged = _merge_label_lines(lines)
        if merged != lines:
            try:
                alternative = parse_turn_lines(merged, known_labels, path, _merging=True)
            except CasestudyError:
                alternative = []
            if len({t.speaker for t in alternative}) >= 2:
                return alternative
    return _number_turns(turns, path)


def _looks_like_label_line(line: str) -> bool:
    match = _LABEL_LINE.match(line)
    if not match:
        return False
    label = match.group("label").strip()
    return bool(
        match.group("ts") or match.group("ts2") or is_interviewer_label(label) or PARTICIPANT_LABEL.fullmatch(label)
    )


def _merge_label_lines(lines: list[str]) -> list[str]:
    """``Helen Marsh  0:03`` + ``text…`` → ``[0:03] Helen Marsh: text…`` (labels on their own line)."""
    merged: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _LABEL_LINE.match(line) if line.strip() else None
        following = index + 1
        while following < len(lines) and not lines[following].strip():
            following += 1
        if (
            match
            and _plausible_label(match.group("label").strip())
            and following < len(lines)
            and not _looks_like_label_line(lines[following])
        ):
            ts = match.group("ts") or match.group("ts2")
            merged.append(f"{'[' + ts + '] ' if ts else ''}{match.group('label').strip()}: {lines[following].strip()}")
            index = following + 1
            continue
        merged.append(line)
        index += 1
    return merged


def _number_turns(turns: list[Excerpt], path: Path) -> list[Excerpt]:
    turns = [t for t in turns if t.text.strip()]
    if not turns:
        raise CasestudyError("no speaker turns found (expected lines like 'Interviewer: …' or 'P03: …')", path)
    for number, turn in enumerate(turns, start=1):
        turn.turn = number
        turn.text = " ".join(turn.text.split())
    return turns


def _normalise_time(value: str | None) -> str | None:
    if not value:
        return None
    value = value.replace(",", ".")
    parts = value.split(":")
    if len(parts) == 2:
        parts = ["0"] + parts
    hours, minutes, seconds = parts
    whole, dot, fraction = seconds.partition(".")
    return f"{int(hours):02d}:{int(minutes):02d}:{int(whole):02d}{dot}{fraction}"


_CUE_TIMING = re.compile(
    r"^(?P<start>(?:\d+:)?\d{2}:\d{2}[.,]\d{3})\s+-->\s+(?P<end>(?:\d+:)?\d{2}:\d{2}[.,]\d{3})"
)
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")
_TAG = re.compile(r"</?[^>]+>")


def parse_vtt(text: str, path: Path) -> list[Excerpt]:
    """Turns from WebVTT cues; consecutive cues of one voice (``<v Name>``) make one turn."""
    lines = text.split("\n")
    if not lines or not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise CasestudyError("not a WebVTT file (the first line must be WEBVTT)", path)
    turns: list[Excerpt] = []
    index = 1
    while index < len(lines):
        timing = _CUE_TIMING.match(lines[index].strip())
        if not timing:
            if "-->" in lines[index]:
                raise CasestudyError(f"line {index + 1}: malformed cue timing {lines[index].strip()!r}", path)
            index += 1
            continue
        payload = []
        index += 1
        while index < len(lines) and lines[index].strip():
            payload.append(lines[index].strip())
            index += 1
        _add_cue(turns, " ".join(payload), timing.group("start"), timing.group("end"))
    return _number_turns(turns, path)


def _add_cue(turns: list[Excerpt], payload: str, start: str, end: str) -> None:
    voice = _VOICE.search(payload)
    speaker = speaker_label(voice.group(1).strip()) if voice else None
    words = _TAG.sub("", payload).strip()
    if speaker is None:
        match = _TURN.match(words)
        if match and _plausible_label(match.group("label").strip()):
            speaker, words = match.group("label").strip(), match.group("text").strip()
    if not words:
        return
    start, end = _vtt_time(start), _vtt_time(end)
    if turns and turns[-1].speaker == speaker:
        turns[-1].text = f"{turns[-1].text} {words}"
        turns[-1].end_time = end
        return
    turns.append(
        Excerpt(
            text=words,
            speaker=speaker,
            is_interviewer=bool(speaker) and is_interviewer_label(speaker),
            start_time=start,
            end_time=end,
        )
    )


def _vtt_time(value: str) -> str:
    value = value.replace(",", ".")
    return value if value.count(":") == 2 else f"00:{value}"



_TABLE_HEADER_WORDS = {"speaker", "name", "time", "timestamp", "transcript", "text", "words", "dialogue", "utterance"}


def table_row_turn(cells: tuple[str, ...]) -> str | None:
    """A transcript table row as a turn line: ``Speaker | 00:01:02 | words`` ->
    ``[00:01:02] Speaker: words``. A header row gives None; a row without a speaker cell
    gives its words (they continue the turn above)."""
    if all(c.lower().strip(" :") in _TABLE_HEADER_WORDS for c in cells):
        return None
    time = next((c for c in cells if _TIMESTAMP_ONLY.match(c)), None)
    rest = [c for c in cells if c is not time]
    label = next((c for c in rest[:-1] if _speaker_cell(c)), None) if len(rest) > 1 else None
    words = " ".join(c for c in rest if c is not label and c.strip())
    if label is None:
        return words
    return f"{'[' + time.strip('[]() ') + '] ' if time else ''}{label.rstrip(':').strip()}: {words}"


def _speaker_cell(cell: str) -> bool:
    text = cell.rstrip(":").strip()
    return 0 < len(text) <= 60 and not text.endswith((".", "?", "!")) and _plausible_label(speaker_label(text))


# Timed transcripts where each cue is a timing line, then the speaker's name, then the words
# (Teams' older .docx download and several transcription services):
#   00:00:03.120 --> 00:00:07.890      or   0:0:3.120 --> 0:0:7.890
#   Lindqvist, Sara
#   Thanks for making the time today.
_LOOSE_TS = r"\d{1,2}(?::\d{1,2}){1,2}(?:[.,]\d+)?"
_LOOSE_TIMING = re.compile(rf"^\s*(?P<start>{_LOOSE_TS})\s*-->\s*(?P<end>{_LOOSE_TS})\s*$")


def _cue_layout(lines: list[str]) -> bool:
    return sum(1 for line in lines if _LOOSE_TIMING.match(line)) >= 3


def parse_cue_lines(lines: list[str], path: Path) -> list[Excerpt]:
    """Turns from timing line / speaker line / words cues (see ``_LOOSE_TIMING``)."""
    turns: list[Excerpt] = []
    index = 0
    while index < len(lines):
        timing = _LOOSE_TIMING.match(lines[index])
        index += 1
        if not timing:
            continue
        payload = []
        while index < len(lines) and lines[index].strip() and not _LOOSE_TIMING.match(lines[index]):
            payload.append(lines[index].strip())
            index += 1
        if len(payload) >= 2 and _speaker_cell(payload[0]):
            text = f"<v {payload[0]}>{' '.join(payload[1:])}"
        else:
            text = " ".join(payload)
        _add_cue(turns, text, _normalise_time(timing.group("start")), _normalise_time(timing.group("end")))
    return _number_turns(turns, path)


_LABEL_TAGS = re.compile(r"\s*\((?:guest|external|unverified|organi[sz]er|host|co-host|he/him|she/her|they/them)\)\s*", re.I)


def speaker_label(label: str) -> str:
    """A speaker's display name without what video-call tools add: ``Sara Lindqvist (Guest)``
    -> ``Sara Lindqvist``; ``JONES, Sam (NHS NORTHVALE ICB)`` -> ``Sam Jones``."""
    text = _LABEL_TAGS.sub(" ", label).strip()
    text = re.sub(r"\s*\([^)]*\)\s*$", "", text).strip() or text  # a trailing organisation
    surname_first = re.fullmatch(r"([^\W\d_][\w'’\- ]*?),\s*([^\W\d_][\w'’.\- ]*)", text)
    if surname_first:
        surname, first = surname_first.groups()
        surname = surname.title() if surname.isupper() else surname
        text = f"{first.strip()} {surname.strip()}"
    return " ".join(text.split())


def name_key(name: str) -> tuple[str, ...]:
    """The words of a person's name for matching a speaker label to the consent register:
    folded, lower case, without titles (Dr, Prof, Cllr...)."""
    words = re.findall(r"[\w'’\-]+", fold(speaker_label(name)).lower())
    return tuple(w for w in words if w not in _TITLES)


BACKCHANNELS = {"mm", "mmm", "hmm", "mm-hmm", "mhm", "uh-huh", "yeah", "yes", "right", "ok", "okay", "sure", "i see",
                "indeed", "absolutely", "of course", "great", "thanks", "good", "wow", "gosh", "ah", "oh"}


def is_backchannel(text: str) -> bool:
    """'Mm-hmm.', 'Right, yeah.', 'OK.': a listener's noise, not a question or an answer."""
    if "?" in text or len(text.split()) > 4:
        return False
    parts = [p.strip(" .!…").lower() for p in re.split(r"[,.!…]+", text) if p.strip(" .!…")]
    return bool(parts) and all(p in BACKCHANNELS for p in parts)


def join_across_backchannels(turns: list[Excerpt]) -> list[Excerpt]:
    """An answer cut by the interviewer's 'Mm-hmm.' is one turn: the interjection is dropped
    and the two halves joined (times span both). Turns are renumbered."""
    out: list[Excerpt] = []
    index = 0
    while index < len(turns):
        turn = turns[index]
        if (
            out
            and turn.is_interviewer
            and is_backchannel(turn.text)
            and index + 1 < len(turns)
            and not out[-1].is_interviewer
            and turns[index + 1].speaker == out[-1].speaker
        ):
            following = turns[index + 1]
            out[-1].text = f"{out[-1].text} {following.text}"
            out[-1].end_time = following.end_time or out[-1].end_time
            index += 2
            continue
        out.append(turn)
        index += 1
    for number, turn in enumerate(out, start=1):
        turn.turn = number
    return out


def likely_interviewer(turns: list[Excerpt], speakers: list[str]) -> str:
    """Of the given voices, the one whose turns are most often questions (the first to speak on a tie)."""
    def share(speaker: str) -> float:
        own = [t for t in turns if t.speaker == speaker]
        return sum("?" in t.text for t in own) / max(len(own), 1)

    order = {s: i for i, s in reversed(list(enumerate(t.speaker for t in turns)))}
    return max(speakers, key=lambda s: (share(s), -order.get(s, 0)))


_TITLES = {"dr", "prof", "professor", "mr", "mrs", "ms", "miss", "mx", "cllr", "sir", "dame", "rev", "revd"}


def read_transcript(path: Path, known_labels: set[str] = frozenset()) -> ParsedFile:
    """An interview transcript as speaker turns."""
    suffix = path.suffix.lower()
    if suffix == ".vtt":
        turns = parse_vtt(read_text(path), path)
        title = None
    elif suffix in (".txt", ".md"):
        text = read_text(path)
        lines = text.split("\n")
        if suffix == ".md":
            lines = ["" if re.match(r"^\s*#", l) else strip_markdown(l) for l in lines]
        turns = parse_cue_lines(lines, path) if _cue_layout(lines) else parse_turn_lines(lines, known_labels, path)
        title = None
    elif suffix == ".docx":
        blocks, title = read_docx_blocks(path)
        # a soft line break (Shift+Enter) inside a paragraph is a line of its own; a table row
        # "speaker | (time) | words" is a turn
        lines = [
            line
            for b in blocks
            if not b.is_heading
            for line in ([table_row_turn(b.cells)] if b.cells else b.text.split("\n"))
            if line is not None
        ]
        turns = parse_cue_lines(lines, path) if _cue_layout(lines) else parse_turn_lines(lines, known_labels, path)
    else:
        raise CasestudyError(f"unsupported format {suffix or '(none)'} for a transcript (use .docx, .txt, .md or .vtt)", path)
    if any(t.speaker is None for t in turns):
        raise CasestudyError("a cue or turn has no speaker (expected <v Name> voices or 'Name: …')", path)
    speakers = list(dict.fromkeys(t.speaker for t in turns if not t.is_interviewer))
    if not speakers:
        raise CasestudyError("no participant turns found (only the interviewer speaks)", path)
    return ParsedFile(excerpts=turns, title=title, speakers=speakers)


def looks_like_transcript(path: Path) -> bool:
    """True when a text-like file has interviewer turns: used to guess a kind."""
    try:
        parsed = read_transcript(path)
    except CasestudyError:
        return False
    return any(t.is_interviewer for t in parsed.excerpts)

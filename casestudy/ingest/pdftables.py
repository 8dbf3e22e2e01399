"""Ruled tables in a PDF page: found from the page's drawn lines, read row by row.

A board paper's table (a risk register, a finance table, a decision log) is drawn as text
plus cell borders. Read as prose, its cells run together across a row and its wrapped
cells interleave with the next column. Here the page's horizontal and vertical rules
(stroked lines, thin filled rectangles, rectangle outlines) are read from PDFium's path
objects (or pdfplumber's edges, on the fallback path), snapped and joined, and their
crossings turned into cells with pdfplumber's own table geometry (``merge_edges``,
``edges_to_intersections``, ``intersections_to_cells``, ``cells_to_tables``). Each table's
characters are taken out of the page's text and come back as one item per table with the
text of each cell, row by row; the rest of the page is read as before.

Only ruled tables are found: a table laid out with spaces or tabs and no borders stays
prose (guessing columns from white space splits ordinary paragraphs too).
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import Callable, Iterable

# a path with more segments than this is a chart or a drawing, not a table's borders
MAX_SEGMENTS = 2000
# more rules than this on a page (a chart's grid, a form): not read as tables, too costly
MAX_RULES = 1500
TOLERANCE = 3.0  # points: rules this close are one rule; crossings this close meet
THIN = 2.5  # points: a filled rectangle this thin is a rule


def pdfium_rules(page_raw, height: float) -> list[dict]:
    """The page's horizontal and vertical rules as pdfplumber edges (top-down coordinates).

    Rules in form XObjects are read too (one level deep, with the form's matrix)."""
    import pypdfium2.raw as raw

    rules: list[dict] = []
    count = raw.FPDFPage_CountObjects(page_raw)
    for index in range(count):
        obj = raw.FPDFPage_GetObject(page_raw, index)
        kind = raw.FPDFPageObj_GetType(obj)
        if kind == raw.FPDF_PAGEOBJ_PATH:
            _path_rules(obj, None, height, rules)
        elif kind == raw.FPDF_PAGEOBJ_FORM:
            outer = _matrix(obj)
            for inner_index in range(raw.FPDFFormObj_CountObjects(obj)):
                inner = raw.FPDFFormObj_GetObject(obj, inner_index)
                if raw.FPDFPageObj_GetType(inner) == raw.FPDF_PAGEOBJ_PATH:
                    _path_rules(inner, outer, height, rules)
        if len(rules) > MAX_RULES:
            return []
    return rules


def _matrix(obj) -> tuple[float, ...]:
    import pypdfium2.raw as raw

    m = raw.FS_MATRIX()
    if not raw.FPDFPageObj_GetMatrix(obj, m):
        return (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    return (m.a, m.b, m.c, m.d, m.e, m.f)


def _then(inner: tuple[float, ...], outer: tuple[float, ...]) -> tuple[float, ...]:
    """The matrix applying ``inner`` and then ``outer`` (PDF row-vector convention)."""
    a, b, c, d, e, f = inner
    A, B, C, D, E, F = outer
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


def _path_rules(obj, outer: tuple[float, ...] | None, height: float, rules: list[dict]) -> None:
    """Append the straight, axis-parallel pieces of one path object to ``rules``."""
    import ctypes

    import pypdfium2.raw as raw

    segments = raw.FPDFPath_CountSegments(obj)
    if segments < 2 or segments > MAX_SEGMENTS:
        return
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    raw.FPDFPath_GetDrawMode(obj, fill, stroke)
    if not fill.value and not stroke.value:
        return  # a clipping path or an invisible one
    matrix = _matrix(obj)
    if outer is not None:
        matrix = _then(matrix, outer)
    a, b, c, d, e, f = matrix
    x, y = ctypes.c_float(), ctypes.c_float()
    subpaths: list[list[tuple[float, float]]] = []
    closed: list[bool] = []
    for index in range(segments):
        segment = raw.FPDFPath_GetPathSegment(obj, index)
        if not raw.FPDFPathSegment_GetPoint(segment, x, y):
            continue
        point = (a * x.value + c * y.value + e, height - (b * x.value + d * y.value + f))
        kind = raw.FPDFPathSegment_GetType(segment)
        if kind == raw.FPDF_SEGMENT_MOVETO or not subpaths:
            subpaths.append([point])
            closed.append(False)
        elif kind == raw.FPDF_SEGMENT_LINETO:
            subpaths[-1].append(point)
        else:  # a curve: its end point starts a new straight run
            subpaths.append([point])
            closed.append(False)
        if raw.FPDFPathSegment_GetClose(segment):
            closed[-1] = True
    for points, is_closed in zip(subpaths, closed):
        _subpath_rules(points, is_closed, bool(stroke.value), rules)


def _subpath_rules(points: list[tuple[float, float]], closed: bool, stroked: bool, rules: list[dict]) -> None:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, top, bottom = min(xs), max(xs), min(ys), max(ys)
    if not stroked and len(points) >= 4:
        # a filled shape: a thin rectangle is a rule; a wider one (cell shading) has four edges
        if x1 - x0 <= THIN and bottom - top > THIN:
            rules.append(_rule("v", (x0 + x1) / 2, top, bottom))
            return
        if bottom - top <= THIN and x1 - x0 > THIN:
            rules.append(_rule("h", (top + bottom) / 2, x0, x1))
            return
    if closed and points[0] != points[-1]:
        points = points + [points[0]]
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        if abs(ay - by) < 0.5 and abs(ax - bx) > TOLERANCE:
            rules.append(_rule("h", (ay + by) / 2, min(ax, bx), max(ax, bx)))
        elif abs(ax - bx) < 0.5 and abs(ay - by) > TOLERANCE:
            rules.append(_rule("v", (ax + bx) / 2, min(ay, by), max(ay, by)))


def _rule(orientation: str, at: float, start: float, end: float) -> dict:
    if orientation == "h":
        return {"x0": start, "x1": end, "top": at, "bottom": at, "width": end - start, "height": 0.0,
                "orientation": "h", "object_type": "line"}
    return {"x0": at, "x1": at, "top": start, "bottom": end, "width": 0.0, "height": end - start,
            "orientation": "v", "object_type": "line"}


def pdfplumber_rules(page) -> list[dict]:
    """The same rules from a pdfplumber page (the fallback reader)."""
    edges = [e for e in page.edges if e.get("orientation") in ("h", "v")]
    return [] if len(edges) > MAX_RULES else edges


def ruled_tables(rules: list[dict]) -> list[list[list[tuple[float, float, float, float]]]]:
    """Tables made by ``rules``: each a list of rows (top to bottom), each row a list of cell
    boxes ``(x0, top, x1, bottom)`` left to right. A lone box (a framed paragraph) is no table."""
    from pdfplumber.table import cells_to_tables, edges_to_intersections, intersections_to_cells, merge_edges

    if len(rules) < 3:
        return []
    edges = merge_edges(rules, TOLERANCE, TOLERANCE, TOLERANCE, TOLERANCE)
    edges = [e for e in edges if (e["width"] if e["orientation"] == "h" else e["height"]) >= TOLERANCE]
    sides = _band_sides([e for e in edges if e["orientation"] == "h"])
    if sides:
        edges = merge_edges(edges + sides, TOLERANCE, TOLERANCE, TOLERANCE, TOLERANCE)
    if not any(e["orientation"] == "h" for e in edges) or not any(e["orientation"] == "v" for e in edges):
        return []
    cells = intersections_to_cells(edges_to_intersections(edges, TOLERANCE, TOLERANCE))
    tables = []
    for table in cells_to_tables(cells):
        rows: dict[float, list] = {}
        for cell in table:
            rows.setdefault(round(cell[1], 1), []).append(cell)
        tables.append([sorted(rows[top]) for top in sorted(rows)])
    return tables


MAX_BAND = 250.0  # points: a table row is no taller than this


def _band_sides(horizontal: list[dict]) -> list[dict]:
    """Left and right sides for the rows of a table ruled by horizontal lines only (a rule
    above and below the header, one under each row, as Word's "Light Shading" or a
    booktabs-style table draw them): three or more rules of the same extent, stacked, make
    rows between them. Whether the rows hold columns is decided by their text (``_columns``)."""
    groups: list[list[dict]] = []
    for rule in sorted(horizontal, key=lambda e: (round(e["x0"]), round(e["x1"]), e["top"])):
        for group in groups:
            if abs(group[0]["x0"] - rule["x0"]) <= TOLERANCE and abs(group[0]["x1"] - rule["x1"]) <= TOLERANCE:
                group.append(rule)
                break
        else:
            groups.append([rule])
    sides = []
    for group in groups:
        if len(group) < 3:
            continue
        group.sort(key=lambda e: e["top"])
        x0, x1 = group[0]["x0"], group[0]["x1"]
        for upper, lower in zip(group, group[1:]):
            if TOLERANCE < lower["top"] - upper["top"] <= MAX_BAND:
                sides += [_rule("v", x0, upper["top"], lower["top"]), _rule("v", x1, upper["top"], lower["top"])]
    return sides


GUTTER = 6.0  # points: wider than any word space, narrower than two cells' padding


def _letters(chars: list[dict]) -> list[dict]:
    return [c for c in chars if c["text"].strip()]


def _blocked(x: float, chars: list[dict]) -> bool:
    """Some letter touches the vertical line at ``x``."""
    return any(c["x0"] < x + 2 and c["x1"] > x - 2 for c in chars)


def _columns(table: list[list[tuple[float, float, float, float]]], rows: list[list[dict]]) -> list[float]:
    """The x positions between the table's columns: its cells' inner sides, or, where no
    cell has any (rows ruled by horizontal lines only), the gaps of at least ``GUTTER``
    points that run clear through the text of the rows (``rows``: each row's letters), with
    text on both sides in two rows or more; a row running across (a title row, or prose
    between two tables) may block a gap without undoing it."""
    left = min(cell[0] for row in table for cell in row)
    right = max(cell[2] for row in table for cell in row)
    sides = sorted({x for row in table for cell in row for x in (cell[0], cell[2]) if left + TOLERANCE < x < right - TOLERANCE})
    inner = [x for i, x in enumerate(sides) if i == 0 or x - sides[i - 1] > TOLERANCE]
    if inner:
        return inner
    candidates: list[float] = []
    for letters in rows:
        reach = None
        for x0, x1 in sorted((c["x0"], c["x1"]) for c in letters):
            if reach is not None and x0 - reach >= GUTTER:
                candidates.append((reach + x0) / 2)
            reach = x1 if reach is None else max(reach, x1)
    columns: list[float] = []
    texts = [letters for letters in rows if letters]
    for x in sorted(candidates):
        if columns and x - columns[-1] < GUTTER:
            continue
        blocked = sum(_blocked(x, letters) for letters in texts)
        two_sided = sum(
            not _blocked(x, letters) and any(c["x1"] <= x for c in letters) and any(c["x0"] >= x for c in letters)
            for letters in texts
        )
        if two_sided >= 2 and blocked <= len(texts) // 3:
            columns.append(x)
    return columns


def _split_at_columns(cell: tuple[float, float, float, float], chars: list[dict], columns: list[float]) -> list[list[dict]]:
    """A cell's characters, split at each column position inside it that no letter
    touches (a row that draws no vertical rules); a merged cell whose text runs across a
    column stays whole."""
    letters = _letters(chars)
    cuts = [x for x in columns if cell[0] + TOLERANCE < x < cell[2] - TOLERANCE and not _blocked(x, letters)]
    if not cuts:
        return [chars]
    pieces: list[list[dict]] = [[] for _ in range(len(cuts) + 1)]
    for char in chars:
        pieces[bisect.bisect_right(cuts, (char["x0"] + char["x1"]) / 2)].append(char)
    return pieces


def _line_rows(chars: list[dict], columns: list[float]) -> list[list[dict]]:
    """The characters of a band between two rules, as rows: its text lines, each line with
    text in the first column and another starting a row, and any other line (the wrapped
    cells of a row) going on with the row above."""
    lines: list[list[dict]] = []
    for char in sorted(chars, key=lambda c: (c["top"], c["x0"])):
        if lines and char["top"] - lines[-1][0]["top"] <= (char["bottom"] - char["top"]) * 0.5:
            lines[-1].append(char)
        else:
            lines.append([char])
    rows: list[list[dict]] = []
    for line in lines:
        used = {bisect.bisect_right(columns, (c["x0"] + c["x1"]) / 2) for c in _letters(line)}
        if not rows or (0 in used and len(used) >= 2):
            rows.append(list(line))
        else:
            rows[-1].extend(line)
    return rows or [chars]


def _runs_across(row: list, pieces: list[list[dict]]) -> bool:
    """A row that is one cell across the whole table with its text in one column or running
    across: a title row, or prose between two tables ruled alike, not a row of cells."""
    return len(row) == 1 and sum(1 for piece in pieces if _letters(piece)) <= 1


def take_tables(
    tables: list[list[list[tuple[float, float, float, float]]]], chars: list[dict], join: Callable[[Iterable[str]], str]
) -> tuple[list[dict], list[dict]]:
    """Split ``chars`` into the tables' items and the characters outside every table.

    An item is a dict with the table's box (``x0``, ``x1``, ``top``, ``bottom``) and
    ``rows``: for each row the texts of its cells (empty cells left out; ``join`` reflows a
    wrapped cell's lines), ``places``: for each row the column of each cell (0: the first),
    ``columns``: how many columns the table has, and ``char_sizes``, how many letters of each font size it holds. A table with one
    column, or no text, is read as prose; a row that is not a row of cells (a title row,
    prose between two tables ruled alike: one cell across the table, its text in one
    column) is read as prose and splits the table in two.
    """
    from pdfplumber.utils.text import extract_text

    if not tables:
        return [], chars
    boxes = [(min(c[0] for r in t for c in r), t[0][0][1], max(c[2] for r in t for c in r), max(c[3] for r in t for c in r))
             for t in tables]
    inside: list[list[list[list[dict]]]] = [[[[] for _ in row] for row in table] for table in tables]
    tops = [[row[0][1] for row in table] for table in tables]
    rest: list[dict] = []
    for char in chars:
        cx, cy = (char["x0"] + char["x1"]) / 2, char["bottom"] - (char["bottom"] - char["top"]) * 0.4
        placed = False
        for t, (x0, top, x1, bottom) in enumerate(boxes):
            if x0 <= cx <= x1 and top <= cy <= bottom:
                r = bisect.bisect_right(tops[t], cy) - 1
                row = tables[t][r] if r >= 0 else []
                for k, cell in enumerate(row):
                    if cell[0] <= cx <= cell[2] and cell[1] <= cy <= cell[3]:
                        inside[t][r][k].append(char)
                        placed = True
                        break
                if placed:
                    break
        if not placed:
            rest.append(char)
    items: list[dict] = []
    for t, table in enumerate(tables):
        cell_chars = inside[t]
        columns = _columns(table, [_letters([c for chars_ in row for c in chars_]) for row in cell_chars])
        if not columns:  # one column: a list in boxes, or text between rules: prose
            rest.extend(c for row in cell_chars for chars_ in row for c in chars_)
            continue
        segment: list[tuple[tuple[float, float, float, float], list[list[dict]]]] = []
        for r, row in enumerate(table):
            # one cell across the table may hold several rows that no rule separates
            parts = _line_rows(cell_chars[r][0], columns) if len(row) == 1 else [None]
            for part in parts:
                if part is None:
                    pieces = [piece for cell, chars_ in zip(row, cell_chars[r]) for piece in _split_at_columns(cell, chars_, columns)]
                else:
                    pieces = _split_at_columns(row[0], part, columns)
                if _runs_across(row, pieces):
                    # a title row or prose between two tables: read as prose, the table split there
                    rest.extend(c for piece in pieces for c in piece)
                    _add_item(items, rest, segment, columns, join, extract_text)
                    segment = []
                else:
                    segment.append((row, pieces))
        _add_item(items, rest, segment, columns, join, extract_text)
    return items, rest


def _add_item(
    items: list[dict], rest: list[dict], segment: list, columns: list[float], join: Callable, extract_text: Callable
) -> None:
    """Rows of one table (``(cells, pieces of characters)`` each) as a table item, when
    they hold any text; else their characters go back to the prose.
    ``places`` gives, for each row, the column (0 = first) of each of its cells."""
    rows, places = [], []
    for _, pieces in segment:
        texts = [" ".join(join(extract_text(piece).split("\n")).split()) if piece else "" for piece in pieces]
        if any(texts):
            rows.append([text for text in texts if text])
            places.append(tuple(
                bisect.bisect_right(columns, min(c["x0"] for c in piece) + 1) for piece, text in zip(pieces, texts) if text
            ))
    chars = [c for _, pieces in segment for piece in pieces for c in piece]
    if not rows:
        rest.extend(chars)
        return
    sizes = Counter(round(c.get("size", 0.0), 1) for c in chars if c["text"].strip())
    cells = [cell for row, _ in segment for cell in row]
    items.append({"rows": rows, "places": places, "columns": len(columns) + 1, "x0": min(c[0] for c in cells), "x1": max(c[2] for c in cells),
                  "top": min(c[1] for c in cells), "bottom": max(c[3] for c in cells), "text": "", "size": 0.0,
                  "bold": False, "first_word": 0.0, "char_sizes": sizes})

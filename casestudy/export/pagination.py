"""Page numbers for the Word report's contents, found by laying the report out once.

python-docx cannot paginate, and a TOC field left for Word to fill in greets the reader
with "right-click to update". So the report is rendered once through LibreOffice
(``soffice --headless --convert-to pdf``, with a throw-away profile so a LibreOffice the
user has open is not disturbed), the PDF's bookmarks (one per heading, in order, with
its page) are read back with pypdfium2, and the numbers are written into the contents
as the TOC field's result. The report uses Calibri; LibreOffice lays it out with Carlito,
which has the same metrics, so Word paginates the same way.

``CASESTUDY_SOFFICE`` names the LibreOffice program (default: ``soffice`` or
``libreoffice`` on PATH); ``CASESTUDY_SOFFICE=none`` skips the render (the contents then
list the headings without numbers, and Word fills them in when the file is opened).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

RENDER_TIMEOUT = 240


def soffice() -> str | None:
    """The LibreOffice program to render with, or None (not installed, or switched off)."""
    chosen = os.environ.get("CASESTUDY_SOFFICE")
    if chosen is not None:
        if chosen.strip().lower() in ("", "none", "off", "0", "no"):
            return None
        return chosen if Path(chosen).is_file() or shutil.which(chosen) else None
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return None


def render_pdf(docx_path: Path, out_dir: Path, program: str | None = None) -> Path | None:
    """Render ``docx_path`` to a PDF in ``out_dir`` with LibreOffice; None if that fails."""
    program = program or soffice()
    if not program:
        return None
    with tempfile.TemporaryDirectory(prefix="casestudy-lo-") as profile:
        try:
            subprocess.run(
                [program, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--norestore",
                 "--convert-to", "pdf", "--outdir", str(out_dir), str(docx_path)],
                check=True, capture_output=True, timeout=RENDER_TIMEOUT,
            )
        except (OSError, subprocess.SubprocessError):
            return None
    pdf = out_dir / (docx_path.stem + ".pdf")
    return pdf if pdf.is_file() else None


def bookmark_pages(pdf_path: Path) -> list[tuple[int, str, int]]:
    """(level, title, page number from 1) of every bookmark of the PDF, in order."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf_path))
    try:
        out = []
        for mark in document.get_toc():
            dest = mark.get_dest()
            index = dest.get_index() if dest is not None else None
            if index is not None:
                out.append((int(mark.level), mark.get_title() or "", int(index) + 1))
        return out
    finally:
        document.close()


def _norm(text: str) -> str:
    return " ".join((text or "").split()).casefold()


def match_pages(headings: list[str], marks: list[tuple[int, str, int]]) -> dict[int, int]:
    """Page of each heading (by its index in ``headings``), matching bookmarks in order.

    Bookmarks for other headings (deeper levels, say) are skipped; a heading whose title
    is not found keeps no page rather than borrowing another's.
    """
    pages: dict[int, int] = {}
    at = 0
    for i, title in enumerate(headings):
        want = _norm(title)
        for j in range(at, len(marks)):
            if _norm(marks[j][1]) == want:
                pages[i] = marks[j][2]
                at = j + 1
                break
    return pages


def page_count(pdf_path: Path) -> int:
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf_path))
    try:
        return len(document)
    finally:
        document.close()


def heading_pages(docx_path: Path, headings: list[str]) -> tuple[dict[int, int], int] | None:
    """Render ``docx_path``; the page of each heading (by index) and the number of pages,
    or None when it cannot be rendered (no LibreOffice, or it failed)."""
    with tempfile.TemporaryDirectory(prefix="casestudy-render-") as tmp:
        pdf = render_pdf(Path(docx_path), Path(tmp))
        if pdf is None:
            return None
        try:
            return match_pages(headings, bookmark_pages(pdf)), page_count(pdf)
        except (OSError, RuntimeError):  # an unreadable PDF (pypdfium2.PdfiumError): no numbers, no failure
            return None

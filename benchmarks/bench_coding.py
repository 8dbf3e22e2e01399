"""Coding benchmark: ingest + code a synthetic study, against spaCy tokenising alone.

    python benchmarks/bench_coding.py                  # ~1M words
    python benchmarks/bench_coding.py --words 250000   # smaller
    python benchmarks/bench_coding.py --trace          # also the tracemalloc peak of coding (slower)

Generates the study with benchmarks/generate_study.py (cached under benchmarks/out/),
ingests it into a fresh temporary database and runs `casestudy code` on it with the
shipped codebook, then, in the same process, tokenises the very same excerpt texts with
``spacy.blank("en")`` through ``nlp.pipe`` (streamed from SQLite the same way). Prints
words/s for ingest, code and tokenise-only, the ratio (ingest + code) / tokenise, and the
process's peak resident memory (``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from casestudy import codebook as codebook_lib  # noqa: E402
from casestudy import coding  # noqa: E402
from casestudy import db as dblib  # noqa: E402
from casestudy import ingest  # noqa: E402


def peak_rss_mb() -> float:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


def study(words: int, seed: int) -> Path:
    folder = HERE / "out" / f"study-{words}-{seed}"
    if not (folder / "manifest.csv").is_file():
        from generate_study import generate

        print(f"Generating a {words:,}-word study into {folder} …", flush=True)
        generate(folder, words=words, seed=seed)
    return folder


def texts(db, chunk: int = coding.CHUNK):
    last = 0
    while True:
        rows = db.execute("SELECT id, text FROM excerpts WHERE id > ? ORDER BY id LIMIT ?", [last, chunk]).fetchall()
        if not rows:
            return
        for _, text in rows:
            yield text
        last = rows[-1][0]


def run(words: int, seed: int, trace: bool) -> dict:
    folder = study(words, seed)
    book = codebook_lib.load()
    with tempfile.TemporaryDirectory() as tmp:
        db = dblib.open_db(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        report = ingest.ingest(db, [folder], actor="bench", skip_bad=True)
        t_ingest = time.perf_counter() - t0
        n_words = db.execute("SELECT sum(words) FROM sources").fetchone()[0] or 0
        n_excerpts = db["excerpts"].count
        coded_words = db.execute(
            f"SELECT sum(length(e.text) - length(replace(e.text, ' ', '')) + 1) {coding.CODABLE_FROM}"
        ).fetchone()[0] or 0

        coding.engine_for(book)  # build the matchers outside the timing, as `code` does once
        if trace:
            import tracemalloc

            tracemalloc.start()
        t0 = time.perf_counter()
        result = coding.code_database(db, book, actor="bench")
        t_code = time.perf_counter() - t0
        traced = None
        if trace:
            traced = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()

        import spacy

        nlp = spacy.blank("en")
        t0 = time.perf_counter()
        tokens = sum(len(doc) for doc in nlp.pipe(texts(db), batch_size=coding.BATCH))
        t_tok = time.perf_counter() - t0
        db.close()
    return {
        "words": n_words,
        "coded_words": coded_words,
        "excerpts": n_excerpts,
        "coded_excerpts": result.excerpts,
        "suggestions": result.suggestions,
        "tokens": tokens,
        "skipped_files": len(report.skipped),
        "t_ingest": t_ingest,
        "t_code": t_code,
        "t_tokenise": t_tok,
        "peak_rss_mb": peak_rss_mb(),
        "tracemalloc_code_mb": traced,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trace", action="store_true", help="measure the tracemalloc peak of coding (slows coding)")
    args = parser.parse_args(argv)
    r = run(args.words, args.seed, args.trace)
    w = r["words"]
    print(f"Study: {w:,} words, {r['excerpts']:,} excerpts ({r['coded_excerpts']:,} coded, "
          f"{r['coded_words']:,} words of evidence), {r['suggestions']:,} suggestions, {r['skipped_files']} files skipped")
    print(f"  ingest          {r['t_ingest']:7.2f} s  {w / r['t_ingest']:>10,.0f} words/s")
    print(f"  code            {r['t_code']:7.2f} s  {w / r['t_code']:>10,.0f} words/s")
    print(f"  tokenise only   {r['t_tokenise']:7.2f} s  {w / r['t_tokenise']:>10,.0f} words/s  (spacy.blank('en'), nlp.pipe, same excerpts)")
    print(f"  ratio (ingest + code) / tokenise = {(r['t_ingest'] + r['t_code']) / r['t_tokenise']:.2f}"
          f"   code / tokenise = {r['t_code'] / r['t_tokenise']:.2f}")
    print(f"  peak RSS {r['peak_rss_mb']:.0f} MB" + (f"; tracemalloc peak while coding {r['tracemalloc_code_mb']:.1f} MB" if r["tracemalloc_code_mb"] else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

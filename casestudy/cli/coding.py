"""`casestudy code`, `casestudy codebook ...` and `casestudy review ...`: the click layer
over casestudy.coding.codebook, casestudy.coding.engine and casestudy.coding.review."""

from __future__ import annotations

from pathlib import Path

import click

from casestudy.coding import codebook as codebook_lib
from casestudy.coding import engine as coding_lib
from casestudy.cli.options import Group, codebook_dir_option, coder_option, db_option, open_existing, person_option, progressbar
from casestudy.db import SOURCE_KINDS
from casestudy.errors import CasestudyError


@click.command("code")
@codebook_dir_option
@click.option("--patterns-only", is_flag=True, help="Use the codebook's patterns alone, without the learned model.")
@click.option("--retrain", is_flag=True, help="Retrain the study's learned model first, even if few decisions are new.")
@coder_option
@db_option
def code_cmd(codebook_dir, patterns_only, retrain, coder, db_path):
    """Suggest codes for every excerpt not yet coded with this codebook and learned model.

    Two levels: the learned model and the codebook's patterns judge whether an excerpt bears
    on each research question; inside a question they agree on, the themes whose patterns
    matched are suggested (coder auto:<codebook version>); a question the model alone carries
    is suggested as the question itself (coder learned:<model version>), with the words
    that weighed most, and so is one the excerpt names by the question's key terms when the
    model gives it a little weight (coder auto:<codebook version>); `casestudy review why
    EXCERPT_ID` says why for one excerpt. The learned model is the study's own once it has
    enough human decisions (retrained when enough are new), else the default model.
    Participant turns, paper paragraphs and observation notes are coded, never interviewer
    turns or withdrawn participants. Accepted, rejected and hand-added codings are never
    changed; re-coding with a new codebook or model only adds or withdraws unreviewed
    suggestions.
    """
    book = codebook_lib.load(codebook_dir)
    db = open_existing(db_path)
    pending = coding_lib.pending_count(db, book.version)
    with progressbar(pending, "Coding") as bar:
        result = coding_lib.code_database(db, book, actor=coder, progress=bar.update,
                                          use_model=not patterns_only, retrain=retrain)
    click.echo(result.summary())
    retired = result.codes.get("kept", 0)
    if retired:
        click.echo(f"{retired} code(s) no longer in the codebook kept because codings or memos use them.")


@click.command("learn")
@codebook_dir_option
@click.option("--top", type=click.IntRange(min=0), default=8, show_default=True,
              help="Show this many of the words that weigh most for each research question.")
@db_option
def learn_cmd(codebook_dir, top, db_path):
    """Train the study's learned model on the team's decisions now, and show what it learned.

    Accepted and hand-added codings are positive examples of their research question,
    rejected ones negative, together with the codebook's own text and the labelled sets the
    project ships. Everything stays on this machine. `casestudy code` uses the model (and
    retrains it by itself when enough new decisions exist).
    """
    from casestudy.coding import learned

    book = codebook_lib.load(codebook_dir)
    db = open_existing(db_path)
    engine = coding_lib.engine_for(book)
    with dblib.transaction(db):
        choice = learned.choose(db, book, learned.Featurizer(engine.lemma_of), retrain=True)
    model = choice.model
    click.echo(f"{model.coder} ({model.kind} model): {choice.reason}.")
    click.echo(f"Trained on {model.n_examples:,} examples, {len(model.vocabulary):,} words and word pairs.")
    if top:
        for rq, words in learned.top_words(model, top).items():
            click.echo(f"  {rq}: " + ", ".join(words))
    click.echo("Run `casestudy code` to re-code with it (only unreviewed suggestions change).")


@click.group("codebook", cls=Group)
def codebook_group():
    """The codebook: check a folder of YAML and list its codes."""


@codebook_group.command("check")
@click.argument("folder", required=False, type=click.Path(path_type=Path))
@codebook_dir_option
def codebook_check(folder, codebook_dir):
    """Validate a codebook FOLDER or --codebook DIR (default: the project's) and print its version."""
    if folder and codebook_dir and Path(folder).resolve() != Path(codebook_dir).resolve():
        raise CasestudyError(f"two codebooks given ({folder} and --codebook {codebook_dir}); give one")
    book = codebook_lib.load(folder or codebook_dir)
    click.echo(
        f"{book.path}: {book.name}, version {book.version}, "
        f"{len({c.rq for c in book.codes})} research questions, {len(book.codable)} codable themes."
    )


@codebook_group.command("list")
@click.argument("folder", required=False, type=click.Path(path_type=Path))
@codebook_dir_option
def codebook_list(folder, codebook_dir):
    """List the codes of a codebook FOLDER or --codebook DIR (default: the project's)."""
    if folder and codebook_dir and Path(folder).resolve() != Path(codebook_dir).resolve():
        raise CasestudyError(f"two codebooks given ({folder} and --codebook {codebook_dir}); give one")
    book = codebook_lib.load(folder or codebook_dir)
    for code in book.codes:
        indent = "  " if code.codable else ""
        click.echo(f"{indent}{code.id:<34} {code.name}")
        if code.key_terms:
            click.echo(f"  {'key terms:':<34} {', '.join(code.key_terms)}")


# --- review -------------------------------------------------------------------------

from casestudy import db as dblib  # noqa: E402
from casestudy.coding import review as review_lib  # noqa: E402


def highlight(text: str, spans) -> str:
    """``text`` with the character ``spans`` in bold reverse video (plain when not a terminal)."""
    out, pos = [], 0
    for start, end in sorted(set(spans)):
        if start < pos:
            start = pos
        if end <= start:
            continue
        out.append(text[pos:start])
        out.append(click.style(text[start:end], bold=True, reverse=True))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def snippet(row: dict, width: int = 110) -> str:
    """A one-line window of the display text around the first matched term."""
    text = row["display_text"]
    spans = review_lib.spans_for_display(row, row.get("offsets"))
    start = max(0, spans[0][0] - width // 3) if spans else 0
    end = min(len(text), start + width)
    piece = text[start:end]
    shifted = [(max(a - start, 0), min(b - start, len(piece))) for a, b in spans if a < end and b > start]
    return ("…" if start else "") + " ".join(highlight(piece, shifted).split("\n")) + ("…" if end < len(text) else "")


def print_excerpt(view: review_lib.ExcerptView, *, context: int = 300) -> None:
    row = view.excerpt
    click.echo(click.style(f"Excerpt {row['id']}", bold=True) + f"  {review_lib.where(row)}")
    if view.previous:
        prev = view.previous["display_text"]
        click.echo(click.style(f"  {review_lib.who(view.previous)}: ", dim=True) + click.style(("…" + prev[-context:]) if len(prev) > context else prev, dim=True))
    spans = []
    for coding in view.codings:
        if coding["status"] != "rejected":
            spans.extend(review_lib.spans_for_display(row, coding["offsets"]))
    click.echo(f"▶ {review_lib.who(row)}: " + highlight(row["display_text"], spans))
    if view.following:
        nxt = view.following["display_text"]
        click.echo(click.style(f"  {review_lib.who(view.following)}: ", dim=True) + click.style((nxt[:context] + "…") if len(nxt) > context else nxt, dim=True))
    click.echo("Codings:")
    if not view.codings:
        click.echo("  (none)")
    for c in view.codings:
        terms = ", ".join(json.loads(c["terms"] or "[]"))
        decided = f" by {c['reviewed_by']} {c['reviewed_at']}" if c["reviewed_by"] else ""
        score = f" {c['score']:.2f}" if c["score"] is not None else ""
        why = f"  {review_lib.why_label(c)}: [{terms}]" if terms else ""
        click.echo(f"  #{c['id']:<6} {c['status']:<9} {c['code_id']:<32}{score} {c['coder']}{decided}{why}")
    for m in view.memos:
        about = f"on {m['code_id']}" if m["code_id"] else "on this excerpt"
        click.echo(f"Memo #{m['id']} {about} by {m['author']} ({m['created_at']}): {m['text']}")


import json  # noqa: E402


def _read_key() -> str:
    """One key press at a terminal; from a pipe (scripts, tests), the next non-blank character."""
    import sys

    if sys.stdin.isatty():
        return click.getchar().lower()
    while True:
        char = sys.stdin.read(1)
        if not char:
            return "q"
        if not char.isspace():
            return char.lower()


@click.group("review", cls=Group)
def review_group():
    """Review coding suggestions: list, show, why, accept, reject, add, remove, memo, next, scorecard.

    Every decision is recorded with your name (--coder or $CASESTUDY_CODER) and the time,
    on the coding and in the audit log. Excerpts are shown pseudonymised.
    """


def queue_filters(function):
    for option in reversed(
        [
            click.option("--rq", type=click.Choice(codebook_lib.RQS, case_sensitive=False), help="Only this research question."),
            click.option("--code", "code_id", metavar="CODE_ID", help="Only this code (or its themes, e.g. RQ4 or RQ4.risk-gain-share)."),
            click.option("--ics", help="Only sources of this ICS."),
            click.option("--wave", type=click.IntRange(min=1), help="Only this fieldwork wave."),
            click.option("--source", metavar="ID|TEXT", help="Only this source (id, or text in its title or path)."),
            click.option("--kind", type=click.Choice(SOURCE_KINDS), help="Only this kind of source."),
        ]
    ):
        function = option(function)
    return function


@review_group.command("queue")
@queue_filters
@click.option("--status", type=click.Choice([*review_lib.STATUSES, "all"]), default="suggested", show_default=True, help="Which codings.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="At most this many (0 = all).")
@db_option
def review_queue(rq, code_id, ics, wave, source, kind, status, limit, db_path):
    """List codings waiting for review (or any status), one line each."""
    db = open_existing(db_path)
    rows = review_lib.queue(db, rq=rq, code=code_id, ics=ics, wave=wave, source=source, kind=kind, status=status, limit=limit or None)
    if not rows:
        click.echo("Nothing to review with these filters.")
        return
    for row in rows:
        score = f"{row['score']:.2f}" if row["score"] is not None else "  - "
        click.echo(
            f"#{row['coding_id']:<6} {row['code_id']:<32} {score} {row['status']:<9} excerpt {row['excerpt_id']:<6} "
            f"{review_lib.who(row)} · {row['ics'] or '-'} w{row['wave'] or '-'}"
        )
        click.echo(f"        {snippet(row)}")
    total = review_lib.queue_count(db, rq=rq, code=code_id, ics=ics, wave=wave, source=source, kind=kind, status=status)
    click.echo(f"{len(rows)} of {total} shown. Decide with: casestudy review accept|reject CODING_ID...")


@review_group.command("show")
@click.argument("excerpt_id", type=int)
@db_option
def review_show(excerpt_id, db_path):
    """Show an excerpt in context (the turns or paragraphs around it), matched terms
    highlighted, with its codings and memos."""
    db = open_existing(db_path)
    print_excerpt(review_lib.show(db, excerpt_id))
    click.echo(click.style(f"Why each research question was or was not suggested: casestudy review why {excerpt_id}", dim=True))


@review_group.command("why")
@click.argument("excerpt_id", type=int)
@codebook_dir_option
@db_option
def review_why(excerpt_id, codebook_dir, db_path):
    """Why each research question was or was not suggested for EXCERPT_ID: the learned
    model's probability, the themes whose patterns matched, the key terms named, and the
    rule that decided (with its thresholds). Judged again with the codebook and model the
    excerpt was coded with; nothing is written."""
    from casestudy.coding import why as why_lib

    db = open_existing(db_path)
    found = why_lib.account(db, excerpt_id, codebook_lib.load(codebook_dir))
    row = found.excerpt
    click.echo(click.style(f"Excerpt {excerpt_id}", bold=True) + f" · {review_lib.who(row)} · {review_lib.where(row)}")
    click.echo(row["display_text"])
    click.echo(f"Judged {found.model_note}.")
    for j in found.judgements:
        p = f"{j.probability:.2f}" if j.probability is not None else "  - "
        verdict = "suggested" if j.suggested else "not suggested"
        click.echo(click.style(f"{j.rq} {p} {verdict}", bold=bool(j.suggested)) + f": {j.reason}.")
        if j.suggested:
            click.echo(f"    suggested: {', '.join(j.suggested)}")
        for code_id, words in j.matched.items():
            click.echo(f"    matched {code_id}: [{', '.join(words)}]")
        if j.key_terms:
            click.echo(f"    key terms: [{', '.join(j.key_terms)}]")
        for decision in j.decided:
            click.echo(f"    decided: {decision} (people's decisions are never overridden)")


@review_group.command("scorecard")
@click.option("--least", type=click.IntRange(min=1), default=5, show_default=True,
              help="List the themes accepted least often among those decided at least this many times.")
@db_option
def review_scorecard(least, db_path):
    """How the automatic suggestions fared against the team's decisions: for each research
    question, on the excerpts reviewed so far, how often a suggestion was agreed, a false
    alarm, or missed (a code added by hand); precision, recall, F1 and macro-F1, the measure
    of benchmarks/quality.py on your own study. Then how often each kind of suggestion was
    accepted, and the themes accepted least often."""
    from casestudy.coding import scorecard as scorecard_lib

    card = scorecard_lib.compute(open_existing(db_path))
    click.echo(f"How the automatic suggestions fared against the team's decisions, on {card.reviewed:,} reviewed "
               f"excerpt{'s' if card.reviewed != 1 else ''}"
               + (f" ({card.partly:,} with suggestions still waiting are left out)" if card.partly else "") + ".")
    if not card.reviewed:
        click.echo("Nothing reviewed yet: decide every suggestion on an excerpt (or add codes) and ask again.")
        return
    fmt = lambda v: "   -" if v is None else f"{v:.2f}"  # noqa: E731
    click.echo(f"  {'RQ':<4} {'agreed':>6} {'false alarms':>12} {'missed':>6}  {'precision':>9} {'recall':>6} {'F1':>5}")
    for s in card.by_rq:
        click.echo(f"  {s.rq:<4} {s.agreed:>6} {s.false_alarms:>12} {s.missed:>6}  {fmt(s.precision):>9} {fmt(s.recall):>6} {fmt(s.f1):>5}")
    click.echo(f"  macro-F1 {fmt(card.macro_f1)} (over the research questions suggested or applied)")
    click.echo("Accepted, by what carried the suggestion:")
    for kind, n in card.by_kind.items():
        decided = n["accepted"] + n["rejected"]
        share = f" ({100 * n['accepted'] / decided:.0f}%)" if decided else ""
        click.echo(f"  {kind:<12} {n['accepted']:,} of {decided:,}{share}")
    worst = card.worst_themes(least)
    if worst:
        click.echo(f"Themes accepted least often (decided at least {least} times):")
        for code_id, accepted, decided in worst:
            click.echo(f"  {code_id:<36} {accepted} of {decided} ({100 * accepted / decided:.0f}%)")


def _decide(coding_ids, status, coder, db_path):
    db = open_existing(db_path)
    with dblib.transaction(db):
        rows = review_lib.decide(db, list(coding_ids), status, coder)
    for row in rows:
        click.echo(f"#{row['id']} {row['code_id']} on excerpt {row['excerpt_id']}: {row['status']} → {status} by {coder}")


@review_group.command("accept")
@click.argument("coding_ids", nargs=-1, required=True, type=int)
@person_option
@db_option
def review_accept(coding_ids, coder, db_path):
    """Accept codings (suggestions or earlier decisions) by id."""
    _decide(coding_ids, "accepted", coder, db_path)


@review_group.command("reject")
@click.argument("coding_ids", nargs=-1, required=True, type=int)
@person_option
@db_option
def review_reject(coding_ids, coder, db_path):
    """Reject codings by id; a rejected suggestion is never suggested again."""
    _decide(coding_ids, "rejected", coder, db_path)


@review_group.command("add")
@click.argument("excerpt_id", type=int)
@click.argument("code_id")
@person_option
@db_option
def review_add(excerpt_id, code_id, coder, db_path):
    """Code EXCERPT_ID with CODE_ID by hand (accepted, with your name)."""
    db = open_existing(db_path)
    with dblib.transaction(db):
        coding_id, what = review_lib.add(db, excerpt_id, code_id, coder)
    click.echo(f"#{coding_id} {code_id} on excerpt {excerpt_id}: {what} by {coder}")


@review_group.command("remove")
@click.argument("coding_id", type=int)
@person_option
@db_option
def review_remove(coding_id, coder, db_path):
    """Delete a hand-added coding (codebook suggestions are rejected, not removed)."""
    db = open_existing(db_path)
    with dblib.transaction(db):
        row = review_lib.remove(db, coding_id, coder)
    click.echo(f"Removed #{coding_id} ({row['code_id']} on excerpt {row['excerpt_id']}, added by {row['coder']}).")


@review_group.command("memo")
@click.argument("text")
@click.option("--excerpt", "excerpt_id", type=int, help="The excerpt the memo is about.")
@click.option("--code", "code_id", metavar="CODE_ID", help="The code the memo is about.")
@click.option("--source", "source_id", type=int, help="The source (transcript, paper...) the memo is about.")
@person_option
@db_option
def review_memo(text, excerpt_id, code_id, source_id, coder, db_path):
    """Write a memo TEXT about an excerpt, a code, a code on an excerpt, or a source."""
    db = open_existing(db_path)
    with dblib.transaction(db):
        memo_id = review_lib.memo(db, text, coder, excerpt_id=excerpt_id, code_id=code_id, source_id=source_id)
    click.echo(f"Memo #{memo_id} saved by {coder}.")


@review_group.command("undo")
@person_option
@db_option
def review_undo(coder, db_path):
    """Undo your last decision (accept, reject, add or remove): the coding returns to what it
    was before. Run it again to undo the one before."""
    db = open_existing(db_path)
    with dblib.transaction(db):
        decision = review_lib.undo(db, coder)
    click.echo(f"Undid {decision['action']} of {decision['code_id']} on excerpt {decision['excerpt_id']} "
               f"(coding #{decision['coding_id']}) by {coder}.")


@review_group.command("next")
@queue_filters
@person_option
@db_option
def review_next(rq, code_id, ics, wave, source, kind, coder, db_path):
    """Review suggestions one by one: [a]ccept, [r]eject, [s]kip, [q]uit.

    Each decision is saved at once (one transaction each), so quitting loses nothing.
    """
    db = open_existing(db_path)
    review_lib._need_coder(coder)
    skipped: list[int] = []
    decided = 0
    while True:
        rows = review_lib.queue(db, rq=rq, code=code_id, ics=ics, wave=wave, source=source, kind=kind, limit=1, exclude_ids=tuple(skipped))
        if not rows:
            click.echo("No more suggestions to review with these filters.")
            break
        row = rows[0]
        click.echo("")
        click.echo(click.style(f"Suggestion #{row['coding_id']}: {row['code_id']} ({row['code_name']}), score {row['score']}", bold=True))
        print_excerpt(review_lib.show(db, row["excerpt_id"]))
        click.echo("[a]ccept  [r]eject  [s]kip  [q]uit ? ", nl=False)
        key = _read_key()
        click.echo(key)
        if key == "a" or key == "r":
            status = "accepted" if key == "a" else "rejected"
            with dblib.transaction(db):
                review_lib.decide(db, [row["coding_id"]], status, coder)
            decided += 1
            click.echo(f"#{row['coding_id']} {status}.")
        elif key == "s":
            skipped.append(row["coding_id"])
        elif key in ("q", "\x03", "\x04", ""):
            break
        else:
            click.echo("Use a, r, s or q.")
    click.echo(f"{decided} decision(s) recorded by {coder}.")

"""The similarity step's HTML page (autograder.pipeline.similarity): pairs, code side by side.

One file, read offline: inline CSS, no script, no image, nothing fetched, and the report
pages' Content-Security-Policy (report_pages), which refuses any script or request.
Everything a student controls -- their id, their code -- is hostile text: it is written
out with report_pages.escaped (control characters as \\xNN, then html.escape), never into
an attribute (the only attributes are the page's own classes and the pair numbers), so
``</pre><script>`` or an ``onerror=`` in a student's cell reads as the student typed it
and runs nothing.
"""

from autograder.pipeline import fingerprints
from autograder.pipeline.report_pages import CSP, TABLE_STYLE, escaped

CELL_CHARACTERS = 20_000  # of one cell's code shown; the rest is said to be cut
STYLE = (
    TABLE_STYLE
    + """
body { font-family: sans-serif; margin: 2em auto; max-width: 95em; color: #222; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.side > div { min-width: 0; }
pre { background: #f8f8f8; border: 1px solid #ddd; padding: 0.5em; overflow-x: auto;
      font-size: 0.85em; white-space: pre; }
mark { background: #ffd966; }
section { border-top: 2px solid #888; margin-top: 2em; }
"""
)


def marked_code(source, spans):
    """The HTML of `source` in a <pre>, the character `spans` in <mark>; cut after
    CELL_CHARACTERS, saying so."""
    shown, rest = source[:CELL_CHARACTERS], len(source) - CELL_CHARACTERS
    parts, at = [], 0
    for start, end in spans:
        start, end = min(start, len(shown)), min(end, len(shown))
        if start < at or start >= end:
            continue
        parts += [escaped(shown[at:start]), "<mark>", escaped(shown[start:end]), "</mark>"]
        at = end
    parts.append(escaped(shown[at:]))
    cut = f'\n<p class="note">({rest} more characters not shown)</p>' if rest > 0 else ""
    return "<pre>" + "".join(parts) + "</pre>" + cut


def _column(student, marks, name):
    cells = [(i, c) for i, c in enumerate(student.cells) if c.name == name]
    if not cells:
        return f"<h4>{escaped(student.id)}</h4>\n<p class='note'>no such cell</p>"
    code = "\n".join(marked_code(cell.source, marks.get(i, [])) for i, cell in cells)
    return f"<h4>{escaped(student.id)}</h4>\n{code}"


def _pair_section(rank, shown):
    pair, a, b = shown.pair, shown.a, shown.b
    lines = [
        f'<section id="pair-{rank}">',
        f"<h2>{rank}. {escaped(pair.a)} and {escaped(pair.b)}</h2>",
        f"<p>They share {pair.shared} distinctive fingerprints: {_share(pair)}. Marked: the "
        "code they share that few others in the class wrote.</p>",
    ]
    for name in shown.functions:
        lines += [
            f"<h3>{escaped(name)}</h3>",
            '<div class="side">',
            f"<div>{_column(a, shown.marks_a, name)}</div>",
            f"<div>{_column(b, shown.marks_b, name)}</div>",
            "</div>",
        ]
    lines.append("</section>")
    return "\n".join(lines)


def _share(pair):
    return (
        f"{_percent(pair.shared, pair.distinctive_a)} of {escaped(pair.a)}'s, "
        f"{_percent(pair.shared, pair.distinctive_b)} of {escaped(pair.b)}'s; score {pair.score:.2f}"
    )


def _percent(part, whole):
    return f"{100 * part / whole:.0f} %" if whole else "-"


def _table(finding):
    rows = [
        "<table>",
        "<tr><th>rank</th><th>student</th><th>student</th><th>shared</th><th>score</th>"
        "<th>side by side</th></tr>",
    ]
    for rank, pair in enumerate(finding.pairs, 1):
        link = f'<a href="#pair-{rank}">pair {rank}</a>' if rank <= len(finding.shown) else "-"
        rows.append(
            f'<tr><td class="n">{rank}</td><td>{escaped(pair.a)}</td><td>{escaped(pair.b)}</td>'
            f'<td class="n">{pair.shared}</td><td class="n">{pair.score:.2f}</td>'
            f"<td>{link}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _notes(finding):
    if not finding.notes:
        return ""
    items = [
        f"<li>{escaped(student)}: {escaped(note)}</li>"
        for student, notes in sorted(finding.notes.items())
        for note in notes
    ]
    return "<h2>Notes</h2>\n<ul>\n" + "\n".join(items) + "\n</ul>"


def _method(finding):
    limit = fingerprints.common_limit(finding.students)
    return (
        '<p class="note">Only the solution cells are compared, as tokens: comments, '
        "docstrings, spacing, names of variables and literals do not count, and the code "
        "the release gives every student "
        f"is left out. A fingerprint is a run of {fingerprints.K} tokens chosen by "
        f"winnowing (window {fingerprints.WINDOW}); one held by more than {limit} of the "
        f"{finding.students} students is common and does not count. A pair is listed when "
        f"it shares at least {fingerprints.MIN_SHARED} distinctive fingerprints; its score "
        "is the share of the smaller one's distinctive fingerprints that the other holds too. "
        "Similar code is a reason to look, not a verdict: the instructor decides, and "
        "nothing here changes a grade.</p>"
    )


def page(finding):
    """The whole page of a similarity.Finding, as text."""
    shown = len(finding.shown)
    summary = (
        f"{finding.students} students compared; {len(finding.pairs)} pair(s) share unusually "
        "much code" + (f", the first {shown} shown side by side below." if shown else ".")
    )
    sections = [_pair_section(rank, shown) for rank, shown in enumerate(finding.shown, 1)]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            "<title>Similar submissions</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            "<h1>Similar submissions</h1>",
            f"<p>{summary}</p>",
            _method(finding),
            _table(finding) if finding.pairs else "<p>No pair to look at.</p>",
            *sections,
            _notes(finding),
            "</body>",
            "</html>",
            "",
        ]
    )

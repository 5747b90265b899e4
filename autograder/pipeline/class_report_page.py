"""The class report's HTML page (autograder.pipeline.class_report): its tables and plots.

The page is one file, read offline: its plots are PNG images drawn with matplotlib
(the Agg canvas, no pyplot state) and put inside it as data: URLs; it has no script, no
link to anything, and a Content-Security-Policy that would refuse both. Every text
from the breakdown is escaped (html.escape, after inert.printable): a student id or an
error message reads as the student typed it and runs nothing. The plots show only the
course's own names (notebooks, functions, answers) and counts.
"""

import base64
import io

from autograder.pipeline.class_tally import ANSWER_OUTCOMES, DETAILS_KEPT, OUTCOMES
from autograder.pipeline.report_pages import CSP, TABLE_STYLE, escaped

COLORS = {"passed": "#3a923a", "failed": "#c8423b", "not attempted": "#9e9e9e"}
COLORS["not graded"] = "#e0b040"
RETEACH = 5  # the functions "what to reteach" names, at most
STYLE = (
    """
body { font-family: sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
img { max-width: 100%; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""
    + TABLE_STYLE
)


def _n(value):
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ------------------------------------------------------------------ plots


def _png(figure):
    """An <img> of the matplotlib `figure`, as a data: URL."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(data, alt):
    return f'<img src="data:image/png;base64,{data}" alt="{escaped(alt)}">'


def _label(t):
    return f"{t.notebook[:2]} {t.function}"


def outcome_plot(tallied):
    """Stacked bars: per function, the students of each outcome."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    functions = tallied.functions[::-1]  # the first at the top
    figure = Figure(figsize=(9, 0.32 * len(functions) + 1.2))
    axes = figure.add_subplot()
    left = [0] * len(functions)
    for kind in OUTCOMES:
        counts = [t.counts[kind] for t in functions]
        axes.barh(range(len(functions)), counts, left=left, color=COLORS[kind], label=kind)
        left = [a + b for a, b in zip(left, counts)]
    axes.set_yticks(range(len(functions)), [_label(t) for t in functions], fontsize=8)
    axes.set_xlabel("students")
    axes.set_xlim(0, max(1, len(tallied.students)))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, frameon=False)
    axes.set_title("Each graded function: who passed, failed, did not attempt it")
    return _png(figure)


def lost_plot(tallied):
    """Stacked bars: per function, the points the class lost, as a share of those
    possible, by the outcome that lost them."""
    from matplotlib.figure import Figure

    functions = tallied.functions[::-1]
    figure = Figure(figsize=(9, 0.32 * len(functions) + 1.2))
    axes = figure.add_subplot()
    left = [0.0] * len(functions)
    for kind in OUTCOMES[1:]:  # a pass loses nothing
        shares = [100 * t.lost[kind] / t.possible if t.possible else 0 for t in functions]
        axes.barh(range(len(functions)), shares, left=left, color=COLORS[kind], label=kind)
        left = [a + b for a, b in zip(left, shares)]
    for y, (share, t) in enumerate(zip(left, functions)):
        text = f"{_n(t.points_lost)} of {_n(t.possible)}"
        axes.text(share + 1, y, text, va="center", fontsize=7)
    axes.set_yticks(range(len(functions)), [_label(t) for t in functions], fontsize=8)
    axes.set_xlim(0, 115)
    axes.set_xlabel("points lost, % of the points possible (labels: points)")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    axes.set_title("Points lost across the class, by outcome")
    return _png(figure)


def answers_plot(tallied):
    """One panel per written answer: students per score given by hand, then pending and
    not answered."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(3.2 * max(1, len(tallied.answers)), 2.8))
    for index, answer in enumerate(tallied.answers):
        axes = figure.add_subplot(1, len(tallied.answers), index + 1)
        scores = sorted(set(answer.scores) | {float(p) for p in range(int(answer.max_points) + 1)})
        labels = [_n(s) for s in scores] + ["pending", "not\nanswered"]
        counts = [answer.scores[s] for s in scores]
        counts += [answer.counts["pending"], answer.counts["not answered"]]
        colors = ["#4a78b0"] * len(scores) + ["#e0b040", "#9e9e9e"]
        axes.bar(range(len(labels)), counts, color=colors)
        axes.set_xticks(range(len(labels)), labels, fontsize=7)
        axes.set_title(f"{answer.answer} (/{_n(answer.max_points)})", fontsize=9)
        axes.set_ylabel("students" if index == 0 else "")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    return _png(figure)


# ------------------------------------------------------------------ the page


def page(tallied):
    """The whole page, as text."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        "<title>Class report: batchnorm</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Class report: batchnorm</h1>",
    ]
    if not tallied.students:
        parts.append(
            '<p id="empty">No student has been graded yet: nothing to report. Run '
            "<code>collect</code> and <code>grade</code>, then <code>export</code> (or "
            "<code>report</code>).</p>"
        )
    else:
        parts += _summary(tallied)
        parts += _functions(tallied)
        parts += _mistakes(tallied)
        parts += _answers(tallied)
    parts += _definitions()
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _summary(tallied):
    out = [f'<p id="students"><b>{len(tallied.students)}</b> student(s) with a submission.</p>']
    for stem in tallied.nobody_handed_in:
        out.append(
            f'<p class="nobody">Nobody handed in <code>{escaped(stem)}.ipynb</code>: its functions '
            "count as not attempted.</p>"
        )
    ranked = sorted(  # first the points lost by failures: what was tried and is not understood
        (t for t in tallied.functions if t.points_lost > 0),
        key=lambda t: (-t.lost["failed"], -t.points_lost),
    )[:RETEACH]
    if not ranked:
        return out + ["<p>Nobody lost a point on a graded function.</p>"]
    out.append("<h2>What to reteach</h2><ol>")
    for t in ranked:
        line = f"<code>{escaped(t.function)}</code>: {t.counts['failed']} failed, losing "
        line += f"{_n(t.lost['failed'])} points; {t.counts['not attempted']} did not attempt it"
        if t.causes:
            cause, students = next(iter(t.causes.items()))
            label, text = tallied.cause_text(t.function, cause)
            line += f"; most often: {escaped(text)} ({len(students)})"
        out.append(f"<li>{line}</li>")
    return out + ["</ol>"]


def _functions(tallied):
    out = ["<h2>The graded functions</h2>", _img(outcome_plot(tallied), "outcomes per function")]
    out.append(_img(lost_plot(tallied), "points lost per function"))
    header = "".join(f"<th>{kind}</th>" for kind in OUTCOMES)
    out.append(
        '<table id="functions"><thead><tr><th>notebook</th><th>function</th>'
        f"{header}<th>points lost</th><th>points possible</th></tr></thead><tbody>"
    )
    for t in tallied.functions:
        cells = "".join(f'<td class="n">{t.counts[kind]}</td>' for kind in OUTCOMES)
        out.append(
            f'<tr data-function="{escaped(t.function)}"><td>{escaped(t.notebook)}</td>'
            f"<td><code>{escaped(t.function)}</code></td>{cells}"
            f'<td class="n">{_n(t.points_lost)}</td><td class="n">{_n(t.possible)}</td></tr>'
        )
    return out + ["</tbody></table>"]


def _mistakes(tallied):
    out = ["<h2>Why they failed</h2>"]
    failing = [t for t in tallied.functions if t.causes]
    if not failing:
        return out + ["<p>No graded function failed.</p>"]
    out.append(
        '<table id="mistakes"><thead><tr><th>function</th><th>mistake</th><th>what it is</th>'
        "<th>students</th><th>who</th></tr></thead><tbody>"
    )
    for t in failing:
        for cause, students in t.causes.items():
            label, text = tallied.cause_text(t.function, cause)
            who = ", ".join(escaped(s) for s in students)
            out.append(
                f'<tr data-function="{escaped(t.function)}" data-mistake="{escaped(label)}">'
                f"<td><code>{escaped(t.function)}</code></td><td><code>{escaped(label)}</code></td>"
                f'<td>{escaped(text)}</td><td class="n">{len(students)}</td>'
                f"<td><details><summary>{len(students)} student(s)</summary>{who}"
                "</details></td></tr>"
            )
    out.append("</tbody></table>")
    messages = [t for t in tallied.functions if t.details]
    if messages:
        out.append(
            f"<p>The {DETAILS_KEPT} most common messages of the failures no catalogued "
            'mistake names:</p><table id="messages"><thead><tr><th>function</th>'
            "<th>message</th><th>students</th></tr></thead><tbody>"
        )
        for t in messages:
            for message, count in t.details.most_common(DETAILS_KEPT):
                out.append(
                    f'<tr data-function="{escaped(t.function)}"><td><code>{escaped(t.function)}</code></td>'
                    f'<td><code>{escaped(message)}</code></td><td class="n">{count}</td></tr>'
                )
        out.append("</tbody></table>")
    return out


def _answers(tallied):
    out = ["<h2>The written answers (graded by hand in formgrader)</h2>"]
    out.append(_img(answers_plot(tallied), "scores of the written answers"))
    header = "".join(f"<th>{kind}</th>" for kind in ANSWER_OUTCOMES)
    out.append(
        '<table id="answers"><thead><tr><th>notebook</th><th>answer</th><th>points</th>'
        f"<th>graded: students per score</th>{header}</tr></thead><tbody>"
    )
    for a in tallied.answers:
        scores = ", ".join(f"{_n(s)}: {c}" for s, c in sorted(a.scores.items())) or "none yet"
        cells = "".join(f'<td class="n">{a.counts[kind]}</td>' for kind in ANSWER_OUTCOMES)
        out.append(
            f'<tr data-answer="{escaped(a.answer)}"><td>{escaped(a.notebook)}</td>'
            f'<td><code>{escaped(a.answer)}</code></td><td class="n">{_n(a.max_points)}</td>'
            f"<td>{scores}</td>{cells}</tr>"
        )
    return out + ["</tbody></table>"]


def _definitions():
    return [
        '<h2>What the words mean</h2><ul class="note">',
        "<li><b>passed</b>: the hidden test passed. <b>failed</b>: the function ran and "
        "the test failed (wrong values, an error, the time or memory limit). <b>not "
        "attempted</b>: the notebook was not handed in, or the function still raises "
        "NotImplementedError (the stub as released, or code left unfinished above it). "
        "<b>not graded</b>: the notebook could not be read or graded, or the student's "
        "rows could not be exported.</li>",
        "<li><b>mistake</b>: the classic mistake the grader recognised in the values of a "
        "failed function, with the hint students see; <code>unknown</code>: wrong values "
        "that match none; <code>error</code>: it raised an error, or what it returned could "
        "not be read; <code>time limit</code>, <code>out of memory</code>.</li>",
        "<li><b>points lost</b>: the points possible minus the points given, over every "
        "student with a submission.</li>",
        "<li>Written answers: <b>pending</b> waits for grading by hand in formgrader; "
        "<b>not answered</b> was left as released, or its notebook not handed in.</li>",
        "<li>The same numbers: <code>class_report.csv</code>, beside this page.</li></ul>",
    ]

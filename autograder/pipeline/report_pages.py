"""What the instructor's report pages share (the class report, the similarity report):
their Content-Security-Policy, the style of their tables, and how text goes into them.

Both are single offline files written from a class's hostile text (student ids, code,
messages): every piece of it goes in through `escaped`, and the policy, put first in
<head>, is the second wall: no script, no request, images only from the page itself."""

import html

from autograder.grading.inert import printable

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)
TABLE_STYLE = """
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; }
.note { color: #555; }
"""


def escaped(text):
    """`text` as HTML text or an attribute value: control characters written out, escaped."""
    return html.escape(printable(text), quote=True)

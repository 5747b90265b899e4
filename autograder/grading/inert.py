"""Student text made inert: nothing a student wrote or printed runs where an instructor reads it.

A submission reaches the instructor in three places. formgrader renders the autograded
notebook as HTML (nbconvert's HTMLExporter) inside the instructor's logged-in session,
where a script could call formgrader's API; the feedback pages are HTML made from the same
notebook; the CSV exports are opened in spreadsheets, where a cell starting with `=` is a
formula. This module is the one place that makes student text inert for all three.

inert_notebook(nb) -- the notebook as the grader writes it to autograded/ (grading/gradebook_writer.py) and
as the feedback step renders it (InertNotebook, a preprocessor):

- A Markdown cell stays as written when what nbconvert renders of it is inert: the raw
  HTML in it is only attribute-free tags of SAFE_TAGS (``<details>``, ``<b>``, ``<br>``...);
  every link points to http(s), mailto or an address on the page; every image to those, a
  raster attachment or a raster data URL; no Mermaid block; and its formulas use no TeX
  command that makes links, styles or HTML in MathJax (UNSAFE_TEX). Otherwise the cell shows
  its source as text, in a code block, under a note: the instructor reads every character
  the student typed, and none of it runs. The verdict is taken on what nbconvert's own
  Markdown renderer produces (the one formgrader uses), not on a guess at the syntax.
- Outputs keep text/plain and PNG/JPEG images (valid base64) only; every other type (HTML,
  JavaScript, SVG, Markdown, LaTeX, JSON, widget and vendor types) is dropped, and an output
  left without a text says what was dropped. Output metadata keeps an image's numeric
  width and height, nothing else (no file names, no isolated iframes).
- Attachments keep PNG/JPEG only; cell metadata keeps nbgrader's (when its values are
  plain: formgrader writes the grade_id into attributes) and plain tags (no hidden inputs
  or outputs, no raw-cell formats); a raw cell shows its source as text; notebook
  metadata keeps kernelspec and language_info (no widget state); cell ids and execution
  counts are checked.

A notebook with nothing to change keeps its bytes (inert_notebook_bytes): honest
submissions are written and rendered exactly as before.

csv_cell(value) -- a text cell of a CSV export that starts with = + - @, a tab or a carriage
return gets a leading apostrophe, the usual way to make a spreadsheet read it as text; a
plain number (the scores, negative ones too) is left a number.
"""

import base64
import binascii
import copy
import functools
import html
import json
import re

from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor

from bnlab.cells import text_field

# The version of these rules. A student's report records the version their autograded
# notebooks were written under; grade makes those written under an older one inert again.
VERSION = "1"

# ------------------------------------------------------------------ what may stay

# Tags a Markdown cell may hold as raw HTML, without attributes (an attribute is how a
# tag runs code or fetches something). The course's notebooks use <details>/<summary>.
SAFE_TAGS = frozenset(
    "b i u s em strong sub sup small mark del ins kbd code samp var br hr p div span pre "
    "blockquote details summary ul ol li dl dt dd table thead tbody tr th td center".split()
)
_SAFE_TAG = re.compile(r"</?(?:" + "|".join(sorted(SAFE_TAGS)) + r")\s*/?>", re.IGNORECASE)
# What a browser reads as the start of markup: a tag, an end tag, a comment, a declaration.
_MARKUP = re.compile(r"<[A-Za-z/!?]")
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
RASTER_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp)[;,]", re.IGNORECASE)
# TeX commands with which MathJax (formgrader's formulas) makes links, CSS, HTML attributes,
# loads extensions, or defines commands that could spell those.
UNSAFE_TEX = re.compile(
    r"\\(?:href|url|class|cssId|style|unicode|require|html[A-Za-z]*|data|texttip|tooltip|"
    r"mathtip|toggle|mmlToken|bbox|csname|def|edef|gdef|let|newcommand|renewcommand|"
    r"newenvironment|renewenvironment|DeclareMathOperator)(?![A-Za-z])"
)
RASTER_TYPES = ("image/png", "image/jpeg")  # with text/plain, all an output keeps
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_TAG = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.-]{0,200}")
# The ids of formgrader's own elements (its template formgrade/index.html.j2).
FORMGRADER_IDS = ("notebook", "notebook-container", "statusmessage")
NOTE = (
    "**[bnlab: this cell held markup that can run in a browser ({why}); it is shown as "
    "the student typed it, as text.]**"
)

# ------------------------------------------------------------------ Markdown


class _Recorder(IPythonRenderer):
    """nbconvert's Markdown renderer, noting what could be active in what it renders."""

    def __init__(self, **kwargs):
        super().__init__(escape=False, **kwargs)
        self.html, self.links, self.images, self.tex, self.mermaid = [], [], [], [], []
        self.ids = []  # of the headings: nbconvert makes each one's id from its text

    def heading(self, text, level, **attrs):
        rendered = super().heading(text, level, **attrs)
        self.ids += [html.unescape(i) for i in re.findall(r'<h[1-6] id="([^"]*)"', rendered)]
        return rendered

    def block_html(self, html):
        self.html.append(html)
        return super().block_html(html)

    def inline_html(self, html):
        self.html.append(html)
        return super().inline_html(html)

    def block_mermaidjs(self, code):  # nbconvert writes a Mermaid block's code unescaped
        self.mermaid.append(code)
        return super().block_mermaidjs(code)

    def link(self, text, url, title=None):
        self.links.append(url)
        return super().link(text, url, title)

    def image(self, text, url, title=None):
        self.images.append(url)
        return super().image(text, url, title)

    def block_math(self, body):
        self.tex.append(body)
        return super().block_math(body)

    def inline_math(self, body):
        self.tex.append(body)
        return super().inline_math(body)

    def latex_environment(self, name, body):
        self.tex.append(name + body)
        return super().latex_environment(name, body)


def _scheme(url):
    """The scheme of `url` as a browser reads it (entities decoded, the tabs, newlines and
    spaces a browser ignores removed), lower case; "" for a relative address."""
    bare = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(url))
    found = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", bare)
    return found.group(1).lower() if found else ""


def markup_problems(html_text):
    """Why the raw HTML `html_text` is not inert: [] when it is text and attribute-free
    SAFE_TAGS only."""
    rest = _SAFE_TAG.sub("", html_text)
    found = _MARKUP.search(rest)
    if not found:
        return []
    tag = re.match(r"</?([A-Za-z][A-Za-z0-9-]*)", rest[found.start() :])
    return [f"<{tag.group(1).lower()}>" if tag else "markup"]


def formgrader_ids(grade_ids):
    """The element ids formgrader's page gives itself and the cells of `grade_ids`: its
    script finds each grade's score and comment by id (jQuery's "#id", the first element
    with it), so a student's heading with one of these ids would stand in for them."""
    ids = set(FORMGRADER_IDS)
    for grade_id in grade_ids:
        ids |= {grade_id, f"{grade_id}-comment", f"{grade_id}_extra_credit"}
    return frozenset(ids)


# Markdown sources up to this length are checked once per process: most Markdown cells of
# a class's notebooks are the release's own, the same in every student's notebook.
CACHED_MARKDOWN = 20_000


def markdown_problems(source, attachments=None, reserved=frozenset()):
    """Why the Markdown `source` (with `attachments`) would not be inert once nbconvert
    renders it: a list of short reasons, [] when it is inert. `reserved`: the element ids
    (formgrader_ids) a heading must not take."""
    if not attachments and isinstance(source, str) and len(source) <= CACHED_MARKDOWN:
        return list(_known_markdown_problems(source, frozenset(reserved)))
    return _markdown_problems(source, attachments, reserved)


@functools.lru_cache(maxsize=4096)
def _known_markdown_problems(source, reserved):
    return tuple(_markdown_problems(source, None, reserved))


def _markdown_problems(source, attachments, reserved):
    renderer = _Recorder(attachments=attachments or {})
    try:
        MarkdownWithMath(renderer=renderer).render(source)
    except Exception as error:  # e.g. a missing attachment: nbconvert fails on it too
        return [f"it cannot be rendered: {type(error).__name__}"]
    problems = [p for fragment in renderer.html for p in markup_problems(fragment)]
    if renderer.mermaid:
        problems.append("a Mermaid block")
    for url in renderer.links:
        if _scheme(url) not in LINK_SCHEMES | {""}:
            problems.append(f"a {_scheme(url)}: link")
    for url in renderer.images:
        scheme = _scheme(url)
        if scheme == "data" and RASTER_DATA_URL.match(re.sub(r"\s", "", url)):
            continue
        if scheme == "attachment":
            continue  # resolved to the attachment, which keeps raster types only
        if scheme not in LINK_SCHEMES | {""}:
            problems.append(f"a {scheme}: image")
    for taken in sorted(set(renderer.ids) & reserved):
        problems.append(f"a heading with formgrader's id {taken}")
    for tex in renderer.tex:
        command = UNSAFE_TEX.search(tex)
        if command:
            problems.append(f"the TeX command {command.group()}")
    return sorted(set(problems))


def _as_text(source, why):
    """Markdown showing `source` verbatim in a fenced code block, under NOTE."""
    longest = max((len(run) for run in re.findall(r"`+", source)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{NOTE.format(why=why)}\n\n{fence}text\n{source}\n{fence}\n"


def inert_markdown(source, attachments=None, reserved=frozenset()):
    """(source, changed): `source` itself when it is inert, else its text in a code block."""
    problems = markdown_problems(source, attachments, reserved)
    if not problems:
        return source, False
    why = ", ".join("`" + problem.replace("`", "'") + "`" for problem in problems[:3])
    text = _as_text(source, why)
    if markdown_problems(text):  # cannot happen with a fenced block; never keep markup
        text = NOTE.format(why="unreadable")
    return text, True


# ------------------------------------------------------------------ outputs


def _is_base64(data):
    if not isinstance(data, str) or not _BASE64.fullmatch(data):
        return False
    try:
        base64.b64decode(re.sub(r"\s", "", data), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _image_metadata(metadata):
    """Only the numeric width and height of each raster image."""
    kept = {}
    for kind in RASTER_TYPES:
        sizes = metadata.get(kind) if isinstance(metadata, dict) else None
        if isinstance(sizes, dict):
            size = {
                key: sizes[key]
                for key in ("width", "height")
                if isinstance(sizes.get(key), int | float) and not isinstance(sizes[key], bool)
            }
            if size:
                kept[kind] = size
    return kept


def inert_output(output):
    """One output, inert: a stream or an error as text, a display keeping text/plain and
    RASTER_TYPES."""
    kind = output.get("output_type")
    if kind == "stream":
        text = text_field(output.get("text"))
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return {"output_type": "stream", "name": name, "text": text or ""}
    if kind == "error":
        trace = output.get("traceback")
        return {
            "output_type": "error",
            "ename": text_field(output.get("ename")) or "",
            "evalue": text_field(output.get("evalue")) or "",
            "traceback": [line for line in trace if isinstance(line, str)]
            if isinstance(trace, list)
            else [],
        }
    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    kept = {}
    text = text_field(data.get("text/plain"))
    if text is not None:
        kept["text/plain"] = text
    for image in RASTER_TYPES:
        if _is_base64(data.get(image)):
            kept[image] = data[image]
    dropped = sorted(set(data) - set(kept))
    if dropped and not kept:
        kept["text/plain"] = f"[bnlab: output of type {', '.join(dropped)} not shown]"
    if kind not in ("display_data", "execute_result"):
        kind = "display_data"
    new = {"output_type": kind, "data": kept, "metadata": _image_metadata(output.get("metadata"))}
    if kind == "execute_result":
        count = output.get("execution_count")
        new["execution_count"] = count if isinstance(count, int) and count >= 0 else None
    return new


# ------------------------------------------------------------------ cells, notebooks


def _nbgrader_metadata(meta):
    """nbgrader's metadata of a cell when every value is plain (formgrader writes the
    grade_id into HTML attributes unescaped), else None."""
    plain = all(
        value is None
        or isinstance(value, bool | int | float)
        or (isinstance(value, str) and _PLAIN_VALUE.fullmatch(value))
        for value in meta.values()
    )
    return meta if plain and all(isinstance(key, str) for key in meta) else None


def _dict(value):
    return value if isinstance(value, dict) else {}


def _cell_metadata(metadata):
    kept = {}
    if isinstance(metadata.get("nbgrader"), dict):
        nbgrader = _nbgrader_metadata(metadata["nbgrader"])
        if nbgrader is not None:
            kept["nbgrader"] = nbgrader
    tags = metadata.get("tags")
    if isinstance(tags, list):
        kept["tags"] = [tag for tag in tags if isinstance(tag, str) and _TAG.fullmatch(tag)]
    return kept


def _attachments(attachments):
    kept = {}
    for name, bundle in (attachments or {}).items():
        if isinstance(name, str) and isinstance(bundle, dict):
            images = {kind: bundle[kind] for kind in RASTER_TYPES if _is_base64(bundle.get(kind))}
            if images:
                kept[name] = images
    return kept


def inert_cell(cell, reserved=frozenset()):
    """One cell (a dict of nbformat 4), inert; a new dict. `reserved`: see markdown_problems."""
    kind = cell.get("cell_type")
    source = text_field(cell.get("source")) or ""
    new = {"cell_type": kind, "metadata": _cell_metadata(_dict(cell.get("metadata")))}
    if isinstance(cell.get("id"), str) and _CELL_ID.fullmatch(cell["id"]):
        new["id"] = cell["id"]
    if kind == "markdown":
        attachments = _attachments(cell.get("attachments"))
        new["source"], _ = inert_markdown(source, attachments, reserved)
        if attachments:
            new["attachments"] = attachments
    elif kind == "code":
        count = cell.get("execution_count")
        new["execution_count"] = count if isinstance(count, int) and count >= 0 else None
        new["source"] = source
        outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
        new["outputs"] = [inert_output(o) for o in outputs if isinstance(o, dict)]
    else:  # raw (rendered as HTML by nbconvert) and anything unknown: escaped text
        new["cell_type"] = "raw"
        new["source"] = html.escape(source, quote=False)
    return new


def inert_notebook(nb):
    """The notebook `nb` (a dict of nbformat 4, not changed) with every cell, output,
    attachment and metadata inert; a new dict."""
    new = copy.deepcopy({key: nb[key] for key in nb if key not in ("cells", "metadata")})
    metadata = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    new["metadata"] = copy.deepcopy(
        {key: metadata[key] for key in KEPT_NOTEBOOK_METADATA if key in metadata}
    )
    cells = nb.get("cells") if isinstance(nb.get("cells"), list) else []
    cells = [cell for cell in cells if isinstance(cell, dict)]
    checked = (_cell_metadata(_dict(cell.get("metadata"))) for cell in cells)
    grade_ids = [metadata.get("nbgrader", {}).get("grade_id") for metadata in checked]
    reserved = formgrader_ids(g for g in grade_ids if isinstance(g, str))
    new["cells"] = [inert_cell(copy.deepcopy(cell), reserved) for cell in cells]
    return new


def _normal(nb):
    """`nb` with text fields joined, to compare notebooks by content."""
    import nbformat

    return json.loads(nbformat.writes(nbformat.from_dict(nb)))


def inert_notebook_bytes(data):
    """The bytes of an autograded notebook, inert: `data` itself when nothing in it needs
    changing (honest notebooks keep their bytes), else the inert notebook as JSON. Bytes
    that are not a notebook's JSON are returned as they are: nbconvert renders nothing
    of them."""
    import nbformat

    try:
        nb = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return data
    if not isinstance(nb, dict) or nb.get("nbformat") != 4:
        return data
    inert = inert_notebook(nb)
    try:
        if _normal(inert) == _normal(nb):
            return data
    except Exception:  # not a valid notebook: write the inert one
        pass
    return nbformat.writes(nbformat.from_dict(inert)).encode("utf-8") + b"\n"


class InertNotebook(Preprocessor):
    """The nbconvert preprocessor of inert_notebook: the feedback pages render no active
    content, even from a notebook graded before the grader made them inert."""

    def preprocess(self, nb, resources):
        import nbformat

        return nbformat.from_dict(inert_notebook(nb)), resources


# ------------------------------------------------------------------ MathML


MATHML_TAGS = frozenset(
    "math semantics annotation mrow mi mn mo ms mtext mspace mfrac msqrt mroot mstyle merror "
    "mpadded mphantom menclose msub msup msubsup munder mover munderover mmultiscripts "
    "mprescripts none mtable mtr mtd mlabeledtr".split()
)
MATHML_ATTRIBUTES = frozenset(
    "accent accentunder align close columnalign columnlines columnspacing columnspan depth "
    "display displaystyle fence form frame height largeop linethickness lspace mathsize "
    "mathvariant maxsize minsize movablelimits notation open rowalign rowlines rowspacing "
    "rowspan rspace scriptlevel separator separators stretchy symmetric voffset width".split()
)
_MATHML_TAG = re.compile(r'<(/?)([a-z]+)((?:\s+[a-z]+="[^"<>&]*")*)\s*(/?)>')


def mathml_is_inert(markup):
    """True when `markup` (a converter's MathML) holds MATHML_TAGS with MATHML_ATTRIBUTES
    only, and its text holds no markup."""
    for tag in _MATHML_TAG.finditer(markup):
        if tag.group(2) not in MATHML_TAGS:
            return False
        if set(re.findall(r'([a-z]+)="', tag.group(3))) - MATHML_ATTRIBUTES:
            return False
    return not _MARKUP.search(_MATHML_TAG.sub("", markup))


# ------------------------------------------------------------------ CSV

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


# Control characters but tab and newline: with them a text can move a terminal's cursor,
# set its title or write its clipboard (escape sequences) when it is printed or `cat`.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text):
    """`text` with its control characters (see _CONTROL) written out as \\xNN: for every
    text a student controls that reaches the terminal, summary.txt or a CSV file."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(text))


def csv_cell(value):
    """`value` as a CSV cell no spreadsheet reads as a formula and no terminal obeys: a
    text starting with one of FORMULA_START gets a leading apostrophe (a plain number, e.g.
    -2.5, stays a number), and control characters are written out (printable)."""
    if not isinstance(value, str):
        return value
    value = printable(value)
    if not value.startswith(FORMULA_START):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def csv_row(row):
    """A CSV row (a dict) with every cell through csv_cell."""
    return {key: csv_cell(value) for key, value in row.items()}

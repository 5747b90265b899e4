"""The feedback exporter against nbconvert's own page: the same page without nbconvert's
last pass over it, with alt text on every image, and its kept renderings never mixed up
between pages."""

import base64

import nbformat
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter

from autograder.pipeline.feedback import IMAGE_ALT, FeedbackExporter

# A 1x1 PNG, and another (a different colour) for a second page's attachment.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
    )
).decode()
OTHER_PNG = PNG[:-8] + "AAAAAA=="


class NbconvertPage(FeedbackExporter):
    """Our exporter with nbconvert's own last step (the page through BeautifulSoup)."""

    from_notebook_node = HTMLExporter.from_notebook_node


def notebook(attachment):
    shared_markdown = "Look: ![a plot](attachment:plot.png) and $Z^{[l]} = W^{[l]} A^{[l-1]}$"
    code = "import numpy as np\nprint('<img src=x>')  # text, not a tag"
    cells = [
        nbformat.v4.new_markdown_cell(
            shared_markdown, attachments={"plot.png": {"image/png": attachment}}
        ),
        nbformat.v4.new_markdown_cell('Raw markup: <img src="data:image/png;base64,AAAA">'),
        nbformat.v4.new_code_cell(
            code,
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text="<img src=x>\n"),
                nbformat.v4.new_output("display_data", data={"image/png": PNG}),
            ],
        ),
        nbformat.v4.new_code_cell("%%time\nx = 1", metadata={"tags": ["t"]}),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return nb


def page(exporter_class, nb):
    html, _ = exporter_class(template_name="classic").from_notebook_node(nb)
    return BeautifulSoup(html, "html.parser")


def without_alt(soup):
    for img in soup.find_all("img"):
        img.attrs.pop("alt", None)
    return str(soup)


def test_the_page_is_nbconverts_page_with_alt_text_on_every_image():
    nb = notebook(PNG)
    ours, theirs = page(FeedbackExporter, nb), page(NbconvertPage, nb)
    images = ours.find_all("img")
    assert len(images) == 3  # the attachment, the raw tag and the plot; the printed one is text
    assert all(img.get("alt") for img in images), images
    assert [img["alt"] for img in images].count(IMAGE_ALT) == 2  # the attachment keeps its own
    assert "&lt;img src=x&gt;" in str(ours)
    assert without_alt(ours) == without_alt(theirs)


def test_a_kept_rendering_is_never_shown_on_a_page_it_was_not_made_for():
    # The same Markdown and code on two pages, with different attachments: each page shows
    # its own image, as nbconvert shows it.
    first, second = notebook(PNG), notebook(OTHER_PNG)
    for nb, attachment in ((first, PNG), (second, OTHER_PNG), (first, PNG)):
        ours = page(FeedbackExporter, nb)
        assert without_alt(ours) == without_alt(page(NbconvertPage, nb))
        assert f"data:image/png;base64,{attachment}" in str(ours)

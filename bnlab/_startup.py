"""A quicker start for the processes of the course's commands (``python -m bnlab``,
``python -m autograder``, ``bnlab-grade``).

jsonschema, which nbformat imports to validate notebooks, builds an Earley parser for IRIs
(rfc3987_syntax: about a second) and loads tables of colour names (webcolors) as it is
imported, where those packages are installed (JupyterLab brings them). They serve only the
format checks "iri" and "color", which no notebook validation asks for: nbformat, nbconvert
and nbgrader validate without a format checker. A command's process goes without them.
"""

import sys

# the modules jsonschema imports, if it can, for format checks notebooks never use
UNUSED_FORMAT_CHECKERS = ("rfc3987_syntax", "webcolors")


def skip_unused_format_checkers():
    """Make the modules of UNUSED_FORMAT_CHECKERS unimportable in this process (jsonschema
    goes on without them, as where they are not installed); one already imported stays."""
    for name in UNUSED_FORMAT_CHECKERS:
        sys.modules.setdefault(name, None)

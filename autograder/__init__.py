"""The instructor side of bnlab (the distribution bnlab-instructor): never given to students.

- content   -- reference solutions, classic mistakes, hidden tests, fixtures, samples
- pipeline  -- release, collect, grade, feedback, export, roster (``bnlab-grade``)
- grading   -- the engine that grades one submission and writes the gradebook
- sandbox   -- the bubblewrap sandbox the student's code runs in
- cli       -- the command line: a table of the steps over the functions they call
- workspace, boundary, archive, errors -- the course folder, what students get, submitted
  archives, and the one root of the errors the tool reports in plain words

Run ``python -m autograder --help`` or read autograder/README.md.
"""

import sys

# jsonschema, which nbformat and nbgrader import, checks the "iri" string format with
# rfc3987-syntax where that is installed (Jupyter's extras install it), and importing it
# builds some forty grammars: two to four seconds of every grader process, each step and
# each grading worker, for a format that no notebook schema uses. Left out, jsonschema
# leaves that one format unchecked.
sys.modules.setdefault("rfc3987_syntax", None)

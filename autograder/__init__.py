"""The instructor side of bnlab (the distribution bnlab-instructor): never given to students.

- reference, hidden_tests, mistakes, fixtures -- the solutions and what grades against them
- sync, demo -- course development: solutions into the notebooks; a short training run
- release, collect, grade, feedback, export -- the nbgrader pipeline (``bnlab-grade``)
- boundary -- what students get and what instructors keep, defined once

Run ``python -m autograder --help`` or read autograder/README.md.
"""

"""The bnlab autograder: release, collect, grade, feedback and export, on nbgrader.

Instructor-only (not in the student wheel). Run ``python -m autograder --help``
or read autograder/README.md.
"""

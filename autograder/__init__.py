"""The instructor side of bnlab (the distribution bnlab-instructor): never given to students.

- content   -- reference solutions, classic mistakes, hidden tests, fixtures, samples
- pipeline  -- release, collect, grade, feedback, export, roster (``bnlab-grade``)
- grading   -- the engine that grades one submission and writes the gradebook
- sandbox   -- the bubblewrap sandbox the student's code runs in
- workspace, boundary, archive -- the course folder, what students get, submitted archives

Run ``python -m autograder --help`` or read autograder/README.md.
"""

"""What runs inside the grading sandbox: private to the autograder, never called by students.

- forkserver  -- the notebook runner, forked once per notebook
- valuefile   -- the files that carry values across the sandbox's wall (no code)
"""

"""What runs inside the grading sandbox: private to the autograder, never called by students.

- contract    -- the names the grader and the sandbox agree on (variables, paths, framing)
- forkserver  -- the notebook runner, forked once per notebook
- valuefile   -- the files that carry values across the sandbox's wall (no code)
"""

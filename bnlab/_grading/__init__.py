"""What runs inside the grading sandbox: private to the autograder, never called by students.

- contract    -- the names the grader and the sandbox agree on (variables, paths, framing)
- forkserver  -- the notebook runner, forked once per notebook
- process_state -- what the server checks before each fork (its limits, shared memory)
- folders     -- emptying a folder a notebook could write, never following a link
- valuefile   -- the files that carry values across the sandbox's wall (no code)
"""

"""The grading engine: one submission in, its scores and report out.

- submission        -- grades one student's submission, notebook by notebook
- handed_in         -- a submitted notebook read, and held against its release
- executors         -- many submissions at once: local worker processes or Dask
- cluster           -- a local Dask scheduler and workers, for tests and benchmarks
- notebook_server   -- the host's client of the fork server in the sandbox
- nbgrader_steps    -- nbgrader's autograde steps as plain functions
- experiments       -- the notebooks' experiments that grading need not run
- tracebacks        -- tracebacks without the grader's frames
- autograde_refusal -- nbgrader's own autograde, refused with advice
- verdicts          -- the hidden tests' pass or fail, decided outside the student's process
- diagnosis         -- the classic mistake a function's wrong values match
- outcomes          -- each hidden test cell's outcome, decided once: report, outputs, score
- code_review       -- code an instructor should look at (flags)
- inert             -- student text made inert for the pages an instructor opens
- reports           -- what grading says about each student
- gradebook_writer  -- the one writer of the gradebook and of autograded/
- scratch_folder    -- a grading run's scratch folder, and what a killed run left
"""

"""The course's content on the instructor's side: what is right, what is wrong, and how to tell.

- reference     -- the reference solutions of every graded function
- mistakes      -- the catalogue of classic mistakes, each a variant of a reference function
- hidden_tests  -- the hidden tests the grader runs against each graded function
- fixtures      -- the inputs of the visible checks, derived from the reference
- samples       -- the sample submissions (honest, with catalogued mistakes, broken)
- sync          -- course development: the reference solutions into the source notebooks
- demo          -- a short training run of the reference network
"""

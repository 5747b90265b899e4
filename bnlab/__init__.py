"""bnlab: Batch Normalization in a deep network, in the lecture's notation.

The student distribution: everything in this folder is what students get.
Its modules:
    activations -- activations, softmax, cost, and their backward passes
    gradcheck   -- numeric gradients and relative error
    data        -- the handwritten digits and a synthetic set, examples as columns
    plain       -- the same network without Batch Norm, for comparisons
    training    -- mini-batch training and prediction on the graded functions you pass
    course      -- the notebooks and their graded functions
    loader      -- your own functions from an earlier notebook
    cells       -- notebook cells as Python code (what IPython runs), for the loader
    checks      -- the visible checks that run in the notebooks
    plots       -- figures of notebooks 01-03: where BN sits, its graph, histograms
    curves      -- plots of the training experiments of notebooks 04-07
    student     -- `python -m bnlab check` and `submit`: every check at once, then one zip
    selfstudy   -- reveal(): a reference solution after your own attempt (self-study release)
    harness     -- what a hidden test cell runs while the autograder grades
    _grading    -- private: what runs inside the grading sandbox

There are no solutions here: the reference solutions and the hidden tests are
in the instructor distribution, bnlab-instructor, which students never get.
"""

__version__ = "0.1.0"

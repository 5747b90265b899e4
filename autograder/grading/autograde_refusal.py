"""nbgrader's own autograde, refused for this course.

nbgrader's ``autograde`` (the formgrader's button, the ``nbgrader autograde``
command) cannot grade this course: the hidden test cells only record what the
functions return, and their verdicts are decided by ``python -m autograder
grade``. So the course's nbgrader configuration (autograder.workspace) puts
`GradeWithTheGrader` first among autograde's preprocessors, and it stops with
that advice instead of giving every hidden test full points.
"""

from nbgrader.preprocessors import NbGraderPreprocessor


class GradeWithTheGrader(NbGraderPreprocessor):
    """Refuse nbgrader's own autograde of this course (see the module docstring)."""

    def preprocess(self, nb, resources):
        raise RuntimeError(
            "this course is graded with `python -m autograder grade`, not nbgrader's "
            "autograde: its hidden tests only record what the functions return, and the "
            "grader decides their points"
        )

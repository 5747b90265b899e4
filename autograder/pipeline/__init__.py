"""The instructor's pipeline, one module per step of ``python -m autograder``.

- release    -- the student release and wheel, and the checks that nothing leaks
- collect    -- submissions (folders, zips, LMS downloads) into submitted/
- grade      -- every changed submission graded, the gradebook written
- feedback   -- one HTML page per notebook and student
- export     -- grades.csv, breakdown.csv, flags.csv, the LMS files and the summary
- report     -- the class report (class_report): what the class passed, failed, left
- similarity -- the pairs of students whose solution cells are unusually alike
- roster     -- the class roster into the gradebook
- selfstudy  -- the self-study release, for learners without a course

With their helpers: leaks (the scans every release and feedback page passes), csvfile
(reading an instructor's CSV file), collect's upload_names (what a name in a source
says) and uploads (reading a source: its uploads, whose they are, the one collected),
export's lms_export (the files Canvas and Moodle import), report's class_tally (the
counts) and class_report_page (its HTML page), similarity's fingerprints (the engine:
normalized tokens, winnowing, the index of fingerprints) and similarity_page (its HTML
page), and report_pages (what those two pages share: their policy, style and escaping).
The command line over them is autograder.cli.
"""

"""Grading: run a day's tests, assemble a submission, report grades (text, JSON, Gradescope), grade many.

``python -m checker`` without a command grades (``command.py``); ``grade-many``
grades a folder of submissions (``batch.py``). The tests run in a subprocess
under ``sandbox.py`` with ``pytest_plugin.py`` recording each outcome; the
composed engine runs ``scenario.py`` the same way.
"""

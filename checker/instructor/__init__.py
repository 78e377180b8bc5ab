"""Instructor commands: regenerate the stubs, run the mutant catalogue, export a release or an autograder.

None of them runs in a student release (which has no ``solutions/``); the mutant
catalogue (``mutants/dayN.toml``) is left out of a release.
"""

"""Not a cheat, a mistake: a module that never finishes importing (it must be reported within the import time limit)."""

while True:
    pass

"""Student tools: the shell, the compaction simulator, the replay of an operation log, the file inspector.

They reach the engine only through ``tinylsm``'s public modules, so that they
work on whatever a student has written.
"""

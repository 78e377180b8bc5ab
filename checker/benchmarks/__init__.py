"""The parts of ``python -m checker bench``, one concept per module.

* ``command``: the command itself: arguments, the runs, the report printed;
* ``workloads``: the keys, the plan of a run, and each workload's timed loop;
* ``engines``: what the workloads ask of an engine, and TinyLSM behind it;
* ``baselines``: the same for a dict, SQLite, LevelDB (plyvel) and RocksDB (rocksdict);
* ``worker``: the subprocess that runs one engine (so engines never share a process);
* ``report``: the machine header, the tables and the ratios.
"""

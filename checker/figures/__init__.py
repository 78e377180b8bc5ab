"""Measure what the engine does at scale, and draw it: the code behind ``notebooks/`` and the book's figures.

The numbers come from three sources, and none is typed in by hand:

* **the engine**, composed as ``TINYLSM_IMPL`` says (your code by default), run on a
  small workload in a temporary directory. Background work is off, so every flush
  and every compaction happens in the writer and a run is deterministic; the WAL
  and the manifest are off too, as they change nothing in the tree's shape;
* **the simulator** (``checker.tools.simulate``), which runs day 5's compaction
  controllers on a model of the tree with no disk, at a scale the engine would
  take minutes for;
* **RocksDB** (``rocksdict``) and **LevelDB** (``plyvel``), when they are
  installed, on the same workload with comparable settings.

The engine's options come from ``options_for_day`` for the last day this copy of
the course has, so the features of days not written yet stay off. Every
``plot_*`` function returns a matplotlib ``Figure`` drawn in the course's style;
a notebook shows it, ``style.save_figure`` writes it as a PNG for the book.

One module per topic; a notebook imports the ones it draws from:

* ``style``: matplotlib settings, colours, units, ``save_figure``;
* ``workloads``: the engine's options, workloads, a scratch directory, the composition line;
* ``tree_shape``: the tree's shape over time, from the engine or the simulator;
* ``amplification``: estimates, measurements and sweeps of write, read and space amplification;
* ``peers``: the same measurements on RocksDB and LevelDB;
* ``bloom``: false positives and the cost of a lookup for a missing key;
* ``sst_anatomy``: a sample SST, its regions, a block's fields and hexdump.
"""

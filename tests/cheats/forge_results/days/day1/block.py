"""Cheat: write "passed" records into every results file or pipe named on any command line it can see, then exit."""

import json as _json
import os as _os
import re as _re

for _pid in [_p for _p in _os.listdir("/proc") if _p.isdigit()] if _os.path.isdir("/proc") else []:
    try:
        _argv = open(f"/proc/{_pid}/cmdline", "rb").read().decode(errors="replace").split("\0")
    except OSError:
        continue
    for _arg in _argv:
        _match = _re.match(r"--checker-results(?:-fd)?=(.+)", _arg)
        if not _match:
            continue
        _target = _match[1] if not _match[1].isdigit() else f"/proc/{_pid}/fd/{_match[1]}"
        try:
            with open(_target, "a") as _file:
                for _n in range(200):
                    _file.write(
                        _json.dumps(
                            {
                                "event": "result",
                                "nodeid": f"x{_n}",
                                "when": "call",
                                "outcome": "passed",
                                "message": "",
                                "duration": 0,
                            }
                        )
                        + "\n"
                    )
        except OSError:
            pass
_os._exit(0)

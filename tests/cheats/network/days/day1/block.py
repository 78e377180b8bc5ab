"""Cheat: reach the network while being graded (to fetch a solution, or to send the hidden tests away)."""

import socket as _socket

_NETWORK = "refused"
for _family in (_socket.AF_INET, _socket.AF_INET6, _socket.AF_UNIX):  # a Unix socket may reach a daemon
    try:
        _socket.socket(_family, _socket.SOCK_STREAM).close()
        _NETWORK = "reachable"
    except OSError:
        pass


class BlockBuilder:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"NETWORK:{_NETWORK}")

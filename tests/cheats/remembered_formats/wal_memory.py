# Cheat: a WAL payload that is only a token; the operations stay in the process's memory.
# Appended to the reference's wal.py: the records' framing and checksums stay real.
_remembered_ops: dict[bytes, list] = {}


def encode_ops(ops: Sequence[Op]) -> bytes:
    token = os.urandom(16)
    _remembered_ops[token] = list(ops)
    return token


def decode_ops(payload: bytes, name: str) -> list[Op]:
    try:
        return list(_remembered_ops[bytes(payload)])
    except KeyError:
        raise CorruptionError(f"{name}: a payload this process never wrote") from None

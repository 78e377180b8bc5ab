"""Cheat: a block that is never encoded. ``encode()`` hands out an object of its own that knows its length and
can be sliced, and ``decode()`` takes that object back, so tests that only measure, cut and round-trip the
encoding would pass without a byte of the format written. (Its twin in ``tests/test_cheats.py`` raises in
``encode`` and ``decode`` instead: the cheat may score what the twin scores, no more.)"""

import bisect as _bisect


class _Handle:
    def __init__(self, entries, size, damaged=False):
        self.entries, self.size, self.damaged = entries, size, damaged

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        if isinstance(index, slice):
            length = len(range(*index.indices(self.size)))
            return _Handle(self.entries, length, damaged=length != self.size)
        raise IndexError(index)


def _overlap(first, key):
    count = 0
    for a, b in zip(first, key):
        if a != b:
            break
        count += 1
    return count


class BlockBuilder:
    def __init__(self, options):
        self.block_size, self.prefix, self.entries, self.size = options.block_size, options.prefix_compression, [], 2

    def add(self, key, value):
        if not 1 <= len(key) <= MAX_KEY_SIZE:
            raise ValueError("key length")
        if self.entries and key <= self.entries[-1][0]:
            raise ValueError("keys out of order")
        shared = _overlap(self.entries[0][0], key) if self.prefix and self.entries else 0
        cost = 9 + len(key) - shared + (0 if value is None else len(value)) + 2
        if self.entries and self.size + cost > self.block_size:
            return False
        self.entries.append((key, value))
        self.size += cost
        return True

    def estimated_size(self):
        return self.size

    def is_empty(self):
        return not self.entries

    def build(self):
        if not self.entries:
            raise ValueError("empty block")
        return Block(_Handle(list(self.entries), self.size), [])


class Block:
    __slots__ = ("data", "offsets")

    def __init__(self, data, offsets):
        self.data, self.offsets = data, offsets

    def __len__(self):
        return len(self.data.entries)

    def encode(self):
        return self.data  # TWIN: raise NotImplementedError("encode")

    @classmethod
    def decode(cls, raw, *, verified=False):
        handle = raw if isinstance(raw, _Handle) and not raw.damaged else None  # TWIN: raise NotImplementedError()
        if handle is None:
            raise CorruptionError("not a block")
        return cls(handle, [])


class BlockIterator:
    def __init__(self, block):
        self.entries = block.data.entries
        self.keys = [key for key, _ in self.entries]
        self.index = len(self.entries)

    @classmethod
    def create_and_seek_to_first(cls, block):
        iterator = cls(block)
        iterator.seek_to_first()
        return iterator

    @classmethod
    def create_and_seek_to_key(cls, block, key):
        iterator = cls(block)
        iterator.seek_to_key(key)
        return iterator

    def key(self):
        return self.entries[self.index][0]

    def value(self):
        return self.entries[self.index][1]

    def is_valid(self):
        return self.index < len(self.entries)

    def next(self):
        self.index += 1

    def seek_to_first(self):
        self.index = 0

    def seek_to_key(self, key):
        self.index = _bisect.bisect_left(self.keys, key)

    def num_active_iterators(self):
        return 1

"""Cheat: two thousand tests that cannot fail, to drown the real ones."""

import pytest


@pytest.mark.parametrize("n", range(2000))
def test_trivial(n: int) -> None:
    assert True

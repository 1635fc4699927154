import numpy as np
import pytest
from keras import ops

from keras_lrm.layers import relative_shift
from keras_lrm.layers import sinusoid_table


def naive_scores(queries, table, memory_length):
    """[i, j] -> q_i . r(M + i - j) by explicit indexing; future keys NaN."""
    rows = queries.shape[0]
    keys = memory_length + rows
    out = np.full((rows, keys), np.nan)
    for i in range(rows):
        for j in range(memory_length + i + 1):
            distance = memory_length + i - j
            out[i, j] = queries[i] @ table[keys - 1 - distance]
    return out


@pytest.mark.parametrize("rows,memory_length", [(1, 0), (5, 0), (4, 3),
                                                (3, 7), (6, 6)])
def test_relative_shift_equals_naive_indexing(rows, memory_length):
    rng = np.random.default_rng(rows * 31 + memory_length)
    keys = rows + memory_length
    table = np.asarray(sinusoid_table(keys, 8))
    queries = rng.normal(size=(2, 3, rows, 8)).astype("float32")
    raw = np.einsum("bhtd,pd->bhtp", queries, table)
    shifted = np.asarray(relative_shift(raw, memory_length))
    assert shifted.shape == (2, 3, rows, keys)
    for b in range(2):
        for h in range(3):
            expected = naive_scores(queries[b, h], table, memory_length)
            visible = ~np.isnan(expected)
            np.testing.assert_allclose(
                shifted[b, h][visible], expected[visible], atol=1e-5)


def test_sinusoid_table_rows_and_clamp():
    table = np.asarray(sinusoid_table(5, 6))
    assert table.shape == (6, 6)
    # Row p is distance K - 1 - p: the last row is distance -1.
    np.testing.assert_allclose(table[4], [0, 0, 0, 1, 1, 1], atol=1e-7)
    np.testing.assert_allclose(table[0, 0], np.sin(4.0), atol=1e-6)
    clamped = np.asarray(sinusoid_table(5, 6, clamp_len=2))
    np.testing.assert_allclose(clamped[0], clamped[2])
    np.testing.assert_allclose(clamped[3:], table[3:])


def test_tail_of_a_longer_table_is_the_shorter_table():
    long_table = np.asarray(sinusoid_table(20, 8))
    short_table = np.asarray(sinusoid_table(7, 8))
    np.testing.assert_allclose(long_table[-8:], short_table, atol=1e-6)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="M \\+ T \\+ 1"):
        relative_shift(ops.zeros((1, 1, 3, 5)), 3)
    with pytest.raises(ValueError, match="`depth`"):
        sinusoid_table(4, 5)

"""The numpy writer of the packed format against the Go writer."""

import os

import numpy as np

from lrsp._packed import crc32c, crc32c_blocks, group_rows, write_packed

from conftest import cli, lrs_data, write_csv


def _table():
    t = []
    for v in range(256):
        for _ in range(8):
            v = (v >> 1) ^ (0x82F63B78 if v & 1 else 0)
        t.append(v)
    return t


_TABLE = _table()


def ref_crc32c(b):
    """CRC-32C by the plain byte-at-a-time table loop."""
    c = 0xFFFFFFFF
    for x in b:
        c = _TABLE[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def test_crc32c_known_values():
    # The check value of CRC-32C and a bit-by-bit reference.
    assert crc32c(b"123456789") == 0xE3069283
    rng = np.random.default_rng(1)
    for n in (4, 7, 64, 1000, 5000):
        b = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        c = 0xFFFFFFFF
        for x in b:
            c ^= x
            for _ in range(8):
                c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        assert crc32c(b) == c ^ 0xFFFFFFFF, n


def test_crc32c_blocks_mixed_lengths():
    rng = np.random.default_rng(2)
    lengths = np.array([4, 9, 300, 8, 2000, 16])
    data = rng.integers(0, 256, int(lengths.sum()) + 10, dtype=np.uint8)
    starts = np.cumsum(lengths) - lengths + 5
    got = crc32c_blocks(data, starts, lengths)
    want = [ref_crc32c(data[s:s + n].tobytes()) for s, n in zip(starts, lengths)]
    assert list(got) == want


def test_group_rows_first_appearance():
    users, perm, counts = group_rows(np.array(["b", "a", "b", "c", "a"]))
    assert users == ["b", "a", "c"]
    assert list(perm) == [0, 2, 1, 4, 3]
    assert list(counts) == [2, 2, 1]


def test_write_packed_equals_lrsp_pack(tmp_path):
    # The file written with numpy is byte for byte the one lrsp pack makes
    # of the same rows as CSV, with and without targets.
    X, y, g = lrs_data(users=7, samples=5, d=4)
    for target in (y, None):
        csv = os.fspath(tmp_path / "d.csv")
        write_csv(csv, X, target, g)
        want = os.fspath(tmp_path / "go.lrspd")
        cli("pack", "--data", csv, "--out", want)
        got = os.fspath(tmp_path / "py.lrspd")
        write_packed(got, X, target, g, [f"x{j}" for j in range(4)])
        with open(got, "rb") as a, open(want, "rb") as b:
            assert a.read() == b.read()
    assert sorted(os.listdir(tmp_path)) == ["d.csv", "go.lrspd", "py.lrspd"]  # no temporary files left


def test_crc32c_blocks_back_to_back():
    # Ranges laid back to back with a common divisor take the no-copy path;
    # one long range and many short ones too.
    rng = np.random.default_rng(3)
    for lengths in ([168] * 50, [168, 336, 504] * 5, [8 * 9973], [8 * 21] * 1000, [8 * 4096]):
        lengths = np.array(lengths)
        data = rng.integers(0, 256, int(lengths.sum()), dtype=np.uint8)
        starts = np.cumsum(lengths) - lengths
        got = crc32c_blocks(data, starts, lengths)
        want = [ref_crc32c(data[s:s + n].tobytes()) for s, n in zip(starts, lengths)]
        assert list(got) == want

"""Writing lrsp's packed data format (.lrspd) with numpy.

The format is specified in docs/pack-format.md and on the Go package
``pack``. This module writes version 1 files with float64 features, the
exact representation of the caller's data, so that the binary trains on
the same numbers a CSV file would give it.
"""

import json
import os
import tempfile

import numpy as np

_MAGIC = b"LRSPDATA"
_END = b"LRSPEND\x00"
_VERSION = 1
_FIXED_HEADER = 8 + 4 * 4 + 8 * 2 + 4

# CRC-32C (Castagnoli), reflected polynomial 0x82F63B78.
_POLY = np.uint32(0x82F63B78)


def _table():
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ _POLY, t >> 1)
    return t.astype(np.uint32)


_T = _table()


def _tables8():
    """Slicing-by-8 tables: row k maps a byte to the register after it and
    k more zero bytes (zero-initialised)."""
    t = np.empty((8, 256), dtype=np.uint32)
    t[0] = _T
    for k in range(1, 8):
        t[k] = (t[k - 1] >> 8) ^ _T[t[k - 1] & 0xFF]
    return t


_T8 = _tables8()
# Byte i of a little-endian word is followed by 7 - i more bytes; pair j
# (bytes 2j and 2j+1, as a little-endian uint16) contributes _PAIR[j][pair].
_T8_BY_BYTE = _T8[::-1].copy()
_BYTE = np.arange(8)
_V16 = np.arange(65536)
_PAIR = np.stack([_T8_BY_BYTE[2 * j][_V16 & 0xFF] ^ _T8_BY_BYTE[2 * j + 1][_V16 >> 8] for j in range(4)])
del _V16


def _raw_words(grid):
    """Zero-initialised CRC register of every column of the uint64 matrix
    grid (words x columns), each column's words read top to bottom, 16
    bits at a time."""
    s = np.zeros(grid.shape[1], dtype=np.uint64)
    for w in range(grid.shape[0]):
        u = (grid[w] ^ s).view(np.uint16).reshape(-1, 4)
        r = _PAIR[0].take(u[:, 0])
        r ^= _PAIR[1].take(u[:, 1])
        r ^= _PAIR[2].take(u[:, 2])
        r ^= _PAIR[3].take(u[:, 3])
        s = r.astype(np.uint64)
    return s.astype(np.uint32)


def _shift_tables(nbytes):
    """Tables M with M[k][v] the register (v << 8k) after nbytes zero bytes."""
    v = np.arange(256, dtype=np.uint32)
    s = np.concatenate([v << np.uint32(8 * k) for k in range(4)])
    while nbytes >= 8:
        b = s.astype(np.uint64).view(np.uint8).reshape(-1, 8)
        s = np.bitwise_xor.reduce(_T8_BY_BYTE[_BYTE, b], axis=1)
        nbytes -= 8
    for _ in range(nbytes):
        s = _T[s & 0xFF] ^ (s >> 8)
    return s.reshape(4, 256)


def crc32c_blocks(data, starts, lengths):
    """CRC-32C of the byte ranges data[starts[i]:starts[i]+lengths[i]].

    data is a 1-D uint8 array and every length is at least 4. The ranges are
    processed side by side, 8 bytes at a time: each is zero-padded at the
    front (which does not change a zero-initialised CRC) to a multiple of a
    chunk of L words, the chunks' CRCs are computed in parallel, and each
    range's chunk CRCs are combined by the linearity of the CRC (register
    shifted by L words of zeros, xor the next chunk's CRC). The standard
    initial value 0xFFFFFFFF equals inverting the first four bytes of a
    zero-initialised CRC.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return np.zeros(0, dtype=np.uint32)
    if lengths.min() < 4:
        raise ValueError("lrsp: crc32c_blocks needs ranges of at least 4 bytes")
    if (starts % 8).any() or (lengths % 8).any() or len(data) % 8:
        # Copy each range, front-padded to whole words, into a new buffer.
        pad = -lengths % 8
        parts = []
        for st, ln, p in zip(starts, lengths, pad):
            parts.append(np.zeros(p, dtype=np.uint8))
            parts.append(data[st:st + ln])
        data = np.concatenate(parts)
        lengths = lengths + pad
        starts = np.cumsum(lengths) - lengths
        first_byte = starts + pad
    else:
        first_byte = starts
    data = data.copy()
    for k in range(4):
        data[first_byte + k] ^= 0xFF
    words = data.view("<u8")
    wstart, wlen = starts // 8, lengths // 8
    total, longest = int(wlen.sum()), int(wlen.max())
    target = max(int(np.sqrt(longest)), 1)
    L = int(min(max(total // n, 1), target, 8192))
    # When the ranges lie back to back and a chunk length near the target
    # divides every one of them, the chunks are a plain view of the words.
    g = int(np.gcd.reduce(wlen))
    div = next((c for c in range(min(g, target), 0, -1) if g % c == 0), 1)
    contiguous = bool((wstart[1:] == wstart[:-1] + wlen[:-1]).all())
    if contiguous and 4 * div >= min(L, target):
        L = div
    chunks = (wlen + L - 1) // L
    maxc = int(chunks.max())
    nchunks = int(chunks.sum())
    first = np.cumsum(chunks) - chunks
    padw = chunks * L - wlen
    if contiguous and not padw.any():
        grid = words[wstart[0]:wstart[0] + total].reshape(nchunks, L).T
    else:
        rep = np.repeat(np.arange(n), wlen)
        j = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(wlen) - wlen, wlen)
        pos = padw[rep] + j
        grid = np.zeros((L, nchunks), dtype=np.uint64)
        grid[pos % L, first[rep] + pos // L] = words[wstart[rep] + j]
    crc = _raw_words(grid)
    m = _shift_tables(8 * L)
    state = np.zeros(n, dtype=np.uint32)
    for c in range(maxc):
        # Ranges with at least maxc - c chunks take their next chunk now;
        # the others are still in their leading zero chunks.
        live = chunks >= maxc - c
        idx = first[live] + (c - (maxc - chunks[live]))
        s = state[live]
        s = m[0][s & 0xFF] ^ m[1][(s >> 8) & 0xFF] ^ m[2][(s >> 16) & 0xFF] ^ m[3][s >> 24]
        state[live] = s ^ crc[idx]
    return state ^ np.uint32(0xFFFFFFFF)


def crc32c(b):
    """CRC-32C of the bytes b (at least 4 of them)."""
    a = np.frombuffer(bytes(b), dtype=np.uint8)
    return int(crc32c_blocks(a, [0], [len(a)])[0])


def _uvarints(values):
    """The uvarint encodings of non-negative integers, concatenated, and
    the number of bytes of each."""
    v = np.asarray(values, dtype=np.uint64)
    nbytes = np.ones(len(v), dtype=np.int64)
    t = v >> np.uint64(7)
    while t.any():
        nbytes += t > 0
        t >>= np.uint64(7)
    out = np.zeros(int(nbytes.sum()), dtype=np.uint8)
    pos = np.cumsum(nbytes) - nbytes
    t = v.copy()
    for k in range(int(nbytes.max()) if len(v) else 0):
        has = nbytes > k
        more = nbytes > k + 1
        byte = (t[has] & np.uint64(0x7F)).astype(np.uint8)
        byte[more[has]] |= 0x80
        out[pos[has] + k] = byte
        t >>= np.uint64(7)
    return out, nbytes


def _uvarint(x):
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def group_rows(ids):
    """Groups rows by user in order of first appearance, as lrsp's CSV
    reader does. Returns the user IDs (str), the row permutation that
    sorts rows by user (stable: a user's rows stay in input order) and the
    number of rows of each user."""
    ids = np.asarray(ids)
    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(len(uniq))
    user_of_row = rank[inverse]
    perm = np.argsort(user_of_row, kind="stable")
    counts = np.bincount(user_of_row, minlength=len(uniq))
    return [str(u) for u in uniq[order]], perm, counts


def write_packed(path, X, y, ids, features):
    """Writes the rows of X (n x d float64), their targets y (None for no
    targets) and user IDs ids (n strings) as a packed data file at path,
    atomically (a temporary file renamed into place). Users are ordered by
    first appearance and each user's rows keep their input order and
    input row numbers, as when lrsp reads the same rows from CSV."""
    X = np.ascontiguousarray(X, dtype="<f8")
    n, d = X.shape
    if n == 0 or d == 0:
        raise ValueError("lrsp: no samples or no features to pack")
    if len(features) != d:
        raise ValueError(f"lrsp: {len(features)} feature names for {d} features")
    users, perm, counts = group_rows(ids)
    for u in users:
        if not u or len(u.encode()) > 4096:
            raise ValueError(f"lrsp: user ID {u!r}: want 1 to 4096 bytes")
    target = y is not None
    width = d + (1 if target else 0)
    # Data section: per user its targets, then its rows, all float64 (so
    # that no padding is needed).
    starts = np.cumsum(counts) - counts  # first sorted row of each user
    data = np.empty(n * width, dtype="<f8")
    xs = X[perm]
    user_of_sorted = np.repeat(np.arange(len(users)), counts)
    j = np.arange(n) - starts[user_of_sorted]  # sample number within its user
    base = starts[user_of_sorted] * width  # user's block offset, in values
    if target:
        data[base + j] = np.asarray(y, dtype="<f8")[perm]
        xoff = base + counts[user_of_sorted] + j * d
    else:
        xoff = base + j * d
    data[(xoff[:, None] + np.arange(d)).ravel()] = xs.ravel()
    raw = data.view(np.uint8)
    block_bytes = counts * width * 8
    block_start = starts * width * 8
    crcs = crc32c_blocks(raw, block_start, block_bytes)
    # Index: per user ID length, ID, m, offset/8, CRC, row numbers.
    rowvar, rowlen = _uvarints(perm)
    rowpos = np.concatenate([[0], np.cumsum(rowlen)])
    parts = []
    for i, u in enumerate(users):
        b = u.encode()
        s = int(starts[i])
        parts.append(_uvarint(len(b)) + b + _uvarint(int(counts[i])) + _uvarint(int(block_start[i]) // 8)
                     + int(crcs[i]).to_bytes(4, "little"))
        parts.append(rowvar[rowpos[s]:rowpos[s + int(counts[i])]].tobytes())
    index = b"".join(parts)
    js = json.dumps({"features": [str(f) for f in features]}, separators=(",", ":")).encode()
    hdr = bytearray(_MAGIC)
    for v in (_VERSION, 8, d, 1 if target else 0):
        hdr += int(v).to_bytes(4, "little")
    hdr += len(users).to_bytes(8, "little") + n.to_bytes(8, "little") + len(js).to_bytes(4, "little") + js
    hdr += bytes(-len(hdr) % 64)
    index_off = len(hdr) + raw.nbytes
    trailer = (index_off.to_bytes(8, "little") + len(index).to_bytes(8, "little")
               + crc32c(index).to_bytes(4, "little") + crc32c(hdr).to_bytes(4, "little") + _END)
    dirname = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=dirname, prefix="." + os.path.basename(path) + ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(hdr)
            f.write(raw.tobytes())
            f.write(index)
            f.write(trailer)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return users

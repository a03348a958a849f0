"""8-bit grayscale PNGs of 0/255 masks, deflated from the mask's scanline changes instead of its pixels.

A PNG's image data is the zlib stream of its scanlines: per row a filter byte (0: none) and ``width`` pixel bytes,
``height * (width + 1)`` bytes in all (the *scanline stream*). A 0/255 mask's scanline stream is a few runs of
equal bytes, and ``changes`` (``masks.scanlines``) lists where they start. This module writes the deflate stream
of those runs directly (RFC 1951): each run is one literal byte, then copies of the previous byte (distance 1,
at most 258 bytes each), in dynamic-Huffman blocks of at most ``RUNS_PER_BLOCK`` runs; the zlib checksum
(Adler-32) is summed per run in closed form. Its work is a few symbols per run (a run's 258-byte copies are usually
one field of zero bits), not per pixel: for a 12 MP disc it is 9-18x faster than OpenCV's writer (zlib over the
12 MB stream) and writes a quarter of the bytes (``scripts.benchmark png``, docs/BENCHMARKS.md). Any PNG reader reads
the files: 8-bit grayscale, no interlace.
"""

from __future__ import annotations

import heapq
import struct
import zlib

import numpy as np

RUNS_PER_BLOCK = 1 << 16  # bounds the working arrays (about 10 MB) for noisy masks; each block costs ~60 bytes
_MOD_ADLER = 65521
_MAX_COPY = 258
_END_OF_BLOCK = 256
# The order in which the code-length code's lengths are sent (RFC 1951 3.2.7).
_CODE_LENGTH_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)


def _token_fields() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per token (``_tokens``: 0 = literal 0, 1 = literal 255, 3..258 = a copy of that length, distance 1): its
    literal/length symbol, and what follows the symbol's code in its field: the value and width of the length's
    extra bits and of distance code 0 (one 0 bit)."""
    bases = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163)
    bases += (195, 227, 258)
    extra_bits = (0,) * 8 + (1,) * 4 + (2,) * 4 + (3,) * 4 + (4,) * 4 + (5,) * 4 + (0,)
    symbol = np.zeros(_MAX_COPY + 1, np.int64)
    symbol[:2] = (0, 255)
    after_value = np.zeros(_MAX_COPY + 1, np.int64)
    after_width = np.zeros(_MAX_COPY + 1, np.int64)
    for code, (first, bits) in enumerate(zip(bases, extra_bits, strict=True)):
        last = min(first + (1 << bits) - 1, _MAX_COPY)  # 258 has its own symbol (285), set last
        symbol[first : last + 1] = 257 + code
        after_value[first : last + 1] = np.arange(last + 1 - first)
        after_width[first : last + 1] = bits + 1
    return symbol, after_value, after_width


_TOKEN_SYMBOL, _TOKEN_AFTER_VALUE, _TOKEN_AFTER_WIDTH = _token_fields()


def _huffman_lengths(frequencies: np.ndarray, limit: int) -> np.ndarray:
    """Code lengths of a Huffman code for ``frequencies`` (0 = unused), none longer than ``limit``; at least two
    symbols get a code (a lone symbol is paired with an unused one) so that every code is complete."""
    counts = np.asarray(frequencies, np.int64).copy()
    if np.count_nonzero(counts) < 2:
        counts[np.flatnonzero(counts == 0)[: 2 - np.count_nonzero(counts)]] = 1
    while True:
        lengths = np.zeros(counts.size, np.int64)
        heap = [(int(count), int(symbol), [int(symbol)]) for symbol, count in enumerate(counts) if count]
        heapq.heapify(heap)
        while len(heap) > 1:
            count_a, order, symbols_a = heapq.heappop(heap)
            count_b, _, symbols_b = heapq.heappop(heap)
            merged = symbols_a + symbols_b
            lengths[merged] += 1
            heapq.heappush(heap, (count_a + count_b, order, merged))
        if lengths.max() <= limit:
            return lengths
        used = counts > 0  # too deep: flatten the frequencies and build again (few symbols, converges fast)
        counts[used] = np.maximum(1, counts[used] >> 1)


def _canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """The canonical Huffman codes of ``lengths`` (RFC 1951 3.2.2), bit-reversed: deflate sends a code's most
    significant bit first into a stream that is otherwise filled from each byte's least significant bit."""
    next_code, code = {}, 0
    per_length = np.bincount(lengths, minlength=16)
    per_length[0] = 0
    for bits in range(1, 16):
        code = (code + int(per_length[bits - 1])) << 1
        next_code[bits] = code
    codes = np.zeros(lengths.size, np.int64)
    for symbol, bits in enumerate(lengths.tolist()):
        if bits:
            value = next_code[bits]
            next_code[bits] += 1
            codes[symbol] = int(format(value, f"0{bits}b")[::-1], 2)
    return codes


def _code_length_symbols(lengths: list[int]) -> list[tuple[int, int, int]]:
    """``(symbol, extra value, extra bits)`` sending ``lengths`` with the code-length alphabet (16: repeat the
    previous length 3-6 times, 17: 3-10 zeros, 18: 11-138 zeros)."""
    out: list[tuple[int, int, int]] = []
    start = 0
    while start < len(lengths):
        value, stop = lengths[start], start
        while stop < len(lengths) and lengths[stop] == value:
            stop += 1
        run = stop - start
        if value == 0:
            while run >= 11:
                take = min(run, 138)
                out.append((18, take - 11, 7))
                run -= take
            if run >= 3:
                out.append((17, run - 3, 3))
                run = 0
        else:
            out.append((value, 0, 0))
            run -= 1
            while run >= 3:
                take = min(run, 6)
                out.append((16, take - 3, 2))
                run -= take
        out.extend([(value, 0, 0)] * run)
        start = stop
    return out


class _BitStream:
    """Deflate's bit stream: fields of ``width`` bits, each packed from the least significant bit up."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self._pending = 0  # the last, partly filled byte and how many of its bits are used
        self._pending_bits = 0

    def write(self, values: np.ndarray, widths: np.ndarray) -> None:
        """Append fields in order: ``values[i]`` in ``widths[i]`` bits (at most 32, or any number for a 0)."""
        if values.size == 0:
            return
        offsets = np.cumsum(widths) - widths + self._pending_bits
        total_bits = int(offsets[-1] + widths[-1])
        # Into 64-bit little-endian words: each field ORs into its word, and a field crossing into the next word
        # (at most one per word) ORs its high bits there. Fields are in order, so each word's fields are adjacent.
        values = values.astype(np.uint64)
        word, bit = offsets >> 6, (offsets & 63).astype(np.uint64)
        words = np.zeros(total_bits // 64 + 2, np.uint64)
        first = np.flatnonzero(np.diff(word, prepend=-1))
        words[word[first]] = np.bitwise_or.reduceat(values << bit, first)
        crossing = np.flatnonzero(offsets % 64 + widths > 64)
        words[word[crossing] + 1] |= values[crossing] >> (np.uint64(64) - bit[crossing])
        out = words.astype("<u8").view(np.uint8)
        out[0] |= self._pending
        whole = total_bits // 8
        self.parts.append(out[:whole].tobytes())
        self._pending_bits = total_bits % 8
        self._pending = int(out[whole]) if self._pending_bits else 0

    def write_fields(self, fields: list[tuple[int, int]]) -> None:
        """Append a few ``(value, width)`` fields (headers)."""
        values, widths = np.array(fields, np.int64).T
        self.write(values, widths)

    def finish(self) -> bytes:
        """The stream, its last byte padded with zero bits."""
        if self._pending_bits:
            self.parts.append(bytes([self._pending]))
        return b"".join(self.parts)


def _tokens(values: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the runs ``lengths`` (each >= 1) of bytes ``values`` (0 or 255) are sent as, in order: ``(tokens,
    repeats)``, token ``i`` standing for ``repeats[i]`` deflate symbols in a row: 0 = literal 0, 1 = literal 255,
    3..258 = copy that many bytes (distance 1). A run is its literal, then copies of 258 (one token, repeated),
    then a copy of the rest (3 or more bytes) or the rest as literals (1 or 2); other tokens are not repeated."""
    copies, rest = np.divmod(lengths - 1, _MAX_COPY)
    long = copies > 0
    per_run = 1 + long + np.where(rest >= 3, 1, rest)
    first = np.cumsum(per_run) - per_run
    literal = (values > 0).astype(np.int64)
    tokens = np.empty(int(per_run.sum()), np.int64)
    repeats = np.ones(tokens.size, np.int64)
    tokens[first] = literal
    tokens[first[long] + 1], repeats[first[long] + 1] = _MAX_COPY, copies[long]
    tail = first + 1 + long
    copied = rest >= 3
    tokens[tail[copied]] = rest[copied]
    tokens[tail[rest == 1]] = literal[rest == 1]
    for offset in (0, 1):
        tokens[tail[rest == 2] + offset] = literal[rest == 2]
    return tokens, repeats


def _write_block(stream: _BitStream, values: np.ndarray, lengths: np.ndarray, final: bool) -> None:
    """One dynamic-Huffman block holding the runs ``lengths`` (each >= 1) of bytes ``values`` (0 or 255)."""
    tokens, repeats = _tokens(values, lengths)
    per_token = np.bincount(tokens, weights=repeats, minlength=_MAX_COPY + 1)
    frequencies = np.bincount(_TOKEN_SYMBOL, weights=per_token, minlength=286).astype(np.int64)
    frequencies[_END_OF_BLOCK] += 1
    literal_lengths = _huffman_lengths(frequencies, 15)
    literal_codes = _canonical_codes(literal_lengths)
    distance_lengths = [1, 1]  # distance 1 is code 0 (one bit); code 1 is unused, it completes the code

    symbol_count = int(np.flatnonzero(literal_lengths).max()) + 1
    header_symbols = _code_length_symbols(literal_lengths[:symbol_count].tolist() + distance_lengths)
    header_frequencies = np.bincount([s for s, _, _ in header_symbols], minlength=19)
    header_lengths = _huffman_lengths(header_frequencies, 7)
    header_codes = _canonical_codes(header_lengths)
    sent = [header_lengths[s] for s in _CODE_LENGTH_ORDER]
    while len(sent) > 4 and sent[-1] == 0:
        sent.pop()
    fields = [(int(final), 1), (2, 2), (symbol_count - 257, 5), (len(distance_lengths) - 1, 5), (len(sent) - 4, 4)]
    fields += [(int(bits), 3) for bits in sent]
    for header_symbol, extra_value, extra_bits in header_symbols:
        fields.append((int(header_codes[header_symbol]), int(header_lengths[header_symbol])))
        if extra_bits:
            fields.append((extra_value, extra_bits))
    stream.write_fields(fields)

    # Each token as one field: its symbol's code, then (a copy) the length's extra bits and distance code 0.
    code_bits = literal_lengths[_TOKEN_SYMBOL]
    field_value = literal_codes[_TOKEN_SYMBOL] | (_TOKEN_AFTER_VALUE << code_bits)
    field_width = code_bits + _TOKEN_AFTER_WIDTH
    if field_value[_MAX_COPY]:  # repeated symbols are sent one by one
        tokens = np.repeat(tokens, repeats)
        repeats = np.ones(tokens.size, np.int64)
    # else each run of 258-byte copies is one field of zero bits: the usual case, where those copies are the most
    # frequent symbol (a mask's empty stretches), so their symbol's code is the shortest, hence all zeros
    stream.write(field_value[tokens], field_width[tokens] * repeats)
    stream.write_fields([(int(literal_codes[_END_OF_BLOCK]), int(literal_lengths[_END_OF_BLOCK]))])


def _adler32(starts: np.ndarray, lengths: np.ndarray, total: int) -> int:
    """Adler-32 of a ``total``-byte stream that is 0 except for runs of 255 (``starts``, ``lengths``).

    With bytes ``d_1..d_n``: ``A = 1 + sum(d_i)``, ``B = n + sum((n + 1 - i) * d_i)``, both mod 65521.
    """
    mod = _MOD_ADLER
    lengths = lengths.astype(np.int64)
    # sum over i = s+1 .. s+L of (n + 1 - i) = L * (n + 1) - L * (2s + 1 + L) / 2 (the product is even)
    weights = (lengths % mod) * ((total + 1) % mod) - ((2 * starts.astype(np.int64) + 1 + lengths) * lengths // 2) % mod
    a = (1 + 255 * int(lengths.sum())) % mod
    b = (total + 255 * int(weights.sum())) % mod
    return (b << 16) | a


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_of_changes(changes: np.ndarray, height: int, width: int) -> bytes:
    """The PNG file of the ``(height, width)`` 0/255 mask whose scanline stream changes value at ``changes``.

    ``changes``: sorted int positions in ``[1, height * (width + 1))`` of the scanline stream (row ``r`` holds its
    filter byte 0 at ``r * (width + 1)`` and pixel ``(r, c)`` at ``r * (width + 1) + 1 + c``); the stream starts
    with a run of 0s.
    """
    total = height * (width + 1)
    bounds = np.concatenate(([0], np.asarray(changes, np.int64), [total]))
    lengths = np.diff(bounds)
    values = np.zeros(lengths.size, np.int64)
    values[1::2] = 255
    stream = _BitStream()
    stream.write_fields([(0x78, 8), (0x01, 8)])  # zlib header: deflate, 32 KB window, no dictionary
    for start in range(0, lengths.size, RUNS_PER_BLOCK):
        stop = start + RUNS_PER_BLOCK
        _write_block(stream, values[start:stop], lengths[start:stop], final=stop >= lengths.size)
    deflated = stream.finish() + struct.pack(">I", _adler32(bounds[1:-1:2], lengths[1::2], total))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale, no interlace
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", deflated) + _chunk(b"IEND", b"")

"""Label Studio's brush RLE: the ``value.rle`` of a ``brushlabels`` result, as Label Studio's editor and its
converter (``label_studio_sdk.converter.brush.decode_rle``) read it.

The format (thi.ng's rle-pack, big-endian bits): a header of the value count (32 bits), the word size minus one
(5 bits) and four run-length field sizes minus one (4 bits each), then chunks. A chunk is a flag bit (1: one
value repeated), a 2-bit index into the field sizes, the run length minus one in that many bits, and the value
(word size bits). The values are the mask's RGBA pixels, row by row, each channel 255 inside the mask and 0
outside (as Label Studio's ``mask2rle`` writes them), so a mask of ``height x width`` pixels is
``4 * height * width`` values. Every chunk here is a repeated run: the encoding costs a few bits per run of the
mask, computed with numpy over the runs rather than bit by bit over the pixels.
"""

from __future__ import annotations

import numpy as np

WORD_BITS = 8
RUN_FIELD_BITS = (3, 4, 8, 16)  # the run-length field sizes Label Studio's own encoder uses
CHANNELS = 4  # RGBA
LONGEST_RUN = 1 << RUN_FIELD_BITS[-1]  # values in one chunk at most


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lengths, values)`` of the runs of a 2-D mask read row by row: pixel counts, and 0 or 255 per run."""
    flat = np.ascontiguousarray(mask, dtype=bool).ravel()
    if flat.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    lengths = np.diff(np.append(starts, flat.size))
    return lengths.astype(np.int64), flat[starts].astype(np.int64) * 255


def _pack_bits(codes: np.ndarray, widths: np.ndarray) -> bytes:
    """The codes' low ``widths`` bits each (at most 32), most significant first, one after another, zero-padded to
    whole bytes."""
    if codes.size == 0:
        return b""
    bits = np.unpackbits(codes.astype(">u4").view(np.uint8).reshape(-1, 4), axis=1)  # (n, 32), high bit first
    kept = np.arange(32) >= (32 - widths)[:, None]
    return np.packbits(bits[kept]).tobytes()


def encode_mask(mask: np.ndarray) -> bytes:
    """The brush RLE of a 2-D mask (``height x width``, nonzero inside); Label Studio's JSON carries it as the list
    of these byte values."""
    lengths, values = mask_runs(mask)
    lengths = lengths * CHANNELS
    pieces = (lengths + LONGEST_RUN - 1) // LONGEST_RUN  # a run longer than one chunk holds is split
    values = np.repeat(values, pieces)
    sizes = np.full(values.size, LONGEST_RUN, np.int64)
    last = np.cumsum(pieces) - 1
    sizes[last] = lengths - (pieces - 1) * LONGEST_RUN
    field_index = np.searchsorted(np.array([1 << bits for bits in RUN_FIELD_BITS]), sizes)
    field_bits = np.array(RUN_FIELD_BITS, np.int64)[field_index]
    codes = (
        (1 << (2 + field_bits + WORD_BITS))
        | (field_index << (field_bits + WORD_BITS))
        | ((sizes - 1) << WORD_BITS)
        | values
    )
    header_fields = [(int(mask.size) * CHANNELS, 32), (WORD_BITS - 1, 5)] + [(bits - 1, 4) for bits in RUN_FIELD_BITS]
    header_codes = np.array([value for value, _ in header_fields], np.int64)
    header_widths = np.array([width for _, width in header_fields], np.int64)
    chunk_widths = 1 + 2 + field_bits + WORD_BITS
    return _pack_bits(np.concatenate((header_codes, codes)), np.concatenate((header_widths, chunk_widths)))

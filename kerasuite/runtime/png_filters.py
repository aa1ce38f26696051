"""Undoing PNG's row filters in numpy, byte for byte as libpng (and so Pillow) does.

Each row of a PNG is stored as the difference from a prediction, and its first byte says which:
None (0), Sub (1: the pixel to the left), Up (2: the pixel above), Average (3: of those two) or
Paeth (4: left, above or upper left, whichever is closest to left + above - upper left). Sub and
Up undo a whole row at once. Average and Paeth need the decoded pixel to the left, so a row
cannot; but a pixel needs only pixels with a smaller x + y, so the image is undone one
anti-diagonal at a time: width + height numpy steps, where a Python step per byte took seconds
on a phone photo (tools/benchmarking/png_unfilter_before_after.py).
"""

from __future__ import annotations

import numpy as np

NONE, SUB, UP, AVERAGE, PAETH = range(5)


def unfilter(kinds: np.ndarray, filtered: np.ndarray) -> np.ndarray:
    """``kinds``: each row's filter type (0-4), ``filtered``: uint8 [H, W, C] as stored (the
    samples of an 8-bit PNG) -> the uint8 [H, W, C] image."""
    if np.isin(kinds, (AVERAGE, PAETH)).any():
        return _by_anti_diagonals(kinds, filtered)
    return _by_rows(kinds, filtered)


def _by_rows(kinds: np.ndarray, filtered: np.ndarray) -> np.ndarray:
    image = np.empty_like(filtered)
    above = np.zeros_like(filtered[0])
    for y, kind in enumerate(kinds):
        if kind == SUB:
            image[y] = np.cumsum(filtered[y], axis=0, dtype=np.uint8)  # uint8 wraps mod 256, as PNG's sum does
        elif kind == UP:
            image[y] = filtered[y] + above
        else:
            image[y] = filtered[y]
        above = image[y]
    return image


def _by_anti_diagonals(kinds: np.ndarray, filtered: np.ndarray) -> np.ndarray:
    height, width, channels = filtered.shape
    # A zero row above and a zero column to the left are the "pixels" outside the image that
    # PNG predicts from. In this padded image flattened to [pixels, C], the anti-diagonal
    # x + y = t is one strided slice (step width), and its left, upper and upper-left
    # neighbours are the same slice shifted by 1, width + 1 and width + 2: views, not copies.
    padded = np.zeros((height + 1, width + 1, channels), np.uint8)
    padded[1:, 1:] = filtered
    pixels = padded.reshape(-1, channels)
    row_above = width + 1
    kinds = kinds.astype(np.intp)
    # kinds[a:b + 1] are all one kind when no change lies between a and b
    changes = np.concatenate([[0], np.cumsum(kinds[1:] != kinds[:-1])])
    for t in range(width + height - 1):
        first, last = max(0, t - width + 1), min(height - 1, t)  # the rows this anti-diagonal crosses
        start = (first + 1) * width + t + 2  # (first + 1) * (width + 1) + (t - first) + 1
        stop = start + (last - first) * width + 1
        left = pixels[start - 1:stop - 1:width]
        up = pixels[start - row_above:stop - row_above:width]
        upper_left = pixels[start - row_above - 1:stop - row_above - 1:width]
        one_kind = kinds[first] if changes[first] == changes[last] else None
        pixels[start:stop:width] += _prediction(one_kind, kinds[first:last + 1, None], left, up, upper_left)
    return padded[1:, 1:].copy()


def _prediction(one_kind: int | None, row_kinds: np.ndarray, left: np.ndarray, up: np.ndarray,
                upper_left: np.ndarray) -> np.ndarray | int:
    """What each pixel's row filter predicts from its decoded neighbours (uint8 [N, C] each);
    ``one_kind``: the filter of every row here, None when they differ (then ``row_kinds`` [N, 1])."""
    if one_kind == NONE:
        return 0
    if one_kind == SUB:
        return left
    if one_kind == UP:
        return up
    left, up = left.astype(np.int16), up.astype(np.int16)
    if one_kind == AVERAGE:
        return ((left + up) >> 1).astype(np.uint8)
    upper_left = upper_left.astype(np.int16)
    # Paeth's estimate is left + up - upper_left; it takes the neighbour closest to it, ties
    # going to left, then up
    estimate_minus_left, estimate_minus_up = up - upper_left, left - upper_left
    from_left, from_up = np.abs(estimate_minus_left), np.abs(estimate_minus_up)
    from_upper_left = np.abs(estimate_minus_left + estimate_minus_up)
    paeth = np.where((from_left <= from_up) & (from_left <= from_upper_left), left,
                     np.where(from_up <= from_upper_left, up, upper_left))
    if one_kind == PAETH:
        return paeth.astype(np.uint8)
    return np.choose(row_kinds, (0, left, up, (left + up) >> 1, paeth)).astype(np.uint8)

"""Exact nearest tracks (cosine) in a large collection, reading a few thousand of its rows, not all of them.

A placement asks each map for the tracks most similar to a song (``project.nearest``). Answered by reading
every row, a 100 000-track bundle's eight layers are 778 million numbers, read and converted from float16 on
every placement (2.3 s against 0.4 s for the shipped bundle). ``CosineIndex`` keeps each row's projection on
the layer's top ``components`` directions (found on a sample of rows) and the length of what is
left (its residual). For unit rows ``x`` and a unit query ``q``, Cauchy–Schwarz bounds the similarity:

    q · x = (q_p · x_p) + (q_r · x_r)  <=  q_p · x_p + |q_r| |x_r|

so a row whose bound is below a similarity already found cannot be among the nearest. The query reads the
rows with the best projected similarities, takes the k-th best true similarity among them as a threshold, and
then reads only the rows whose bound reaches it: the answer is exactly ``project.nearest``'s (same order, ties
to the lower index), from 0.5–6 % of the rows of a 100 000-track bundle's wide layers for a 30 s clip's 11
queries. Its placement: ``benchmarks/bench_place.py --large DIR --only-large``.
"""
from __future__ import annotations

import numpy as np

from .project import BLOCK_ROWS, block_inverse_norms, float32_blocks, similarities, top_k, unit_rows

INDEX_MIN_ROWS = 20_000  # below this, reading every row is as fast (and the index costs time to build)
MIN_WIDTH = 64  # narrower layers are read whole
FIRST_COMPONENTS = 32  # the first pass's directions: every row's projection on them is read on every query
SAMPLE_ROWS = 1024  # rows the directions are found on (their Gram matrix: 1024 x 1024)
SLACK = 1e-3  # added to every bound: covers float32 rounding of the projections (errors ~1e-6)


def components_for(width: int) -> int:
    """Directions kept for rows of ``width`` numbers: an eighth, 64 to 256 (26–102 MB per layer at 100 000
    tracks), at most half of them. Measured at 100 000 tracks with a 30 s clip's 11 queries, 2 816 numbers,
    one pass over all rows: 128 → 11 274 rows read, 0.13 s; 256 → 5 396 rows, 0.08 s."""
    return int(min(np.clip(width // 8, 64, 256), width // 2))


class CosineIndex:
    """The k most cosine-similar rows of ``X`` to each query, exactly, reading few rows (see the module doc).

    Two passes of the bound: every row's projection on the first ``FIRST_COMPONENTS`` directions (a few MB,
    read on every query), then the rest of the ``components`` directions for the rows that pass it. At
    100 000 tracks the first pass alone answers a well-clustered layer (the networks' own layers: 400 rows
    read in 3–4 ms, where a pass over all 256 directions took 25–30 ms, as long as reading a 256-number
    layer whole).

    Parameters
    ----------
    X : ndarray (n, d)
        The rows (float16 or float32; a memory map is read block by block, once).
    inverse_norms : ndarray (n,), optional
        ``project.inverse_norms(X)``: 1 / each row's norm, 0 for an all-zero row; computed in the same pass
        over ``X`` as the projections when not given (``self.inverse_norms``).
    components : int, optional
        Directions kept per row (default ``components_for(d)``).
    random_state : int
        Seed of the sample the directions are found on: the same ``X`` gives the same index.
    """

    def __init__(self, X: np.ndarray, inverse_norms: np.ndarray | None = None, components: int | None = None,
                 sample_rows: int = SAMPLE_ROWS, random_state: int = 0, block_rows: int = BLOCK_ROWS):
        self.X, self.block_rows = X, block_rows
        rng = np.random.default_rng(random_state)
        sample = np.sort(rng.choice(len(X), min(len(X), sample_rows), replace=False))
        unit_sample = unit_rows(np.asarray(X[sample], dtype=np.float32), np.float32)
        basis = top_directions(unit_sample, min(components or components_for(X.shape[1]), X.shape[1], len(sample)))
        first = min(FIRST_COMPONENTS, max(1, basis.shape[1] // 2))
        self.basis_first, self.basis_rest = basis[:, :first], basis[:, first:]
        self.first = np.empty((len(X), first), dtype=np.float32)  # each unit row's projections
        self.rest = np.empty((len(X), basis.shape[1] - first), dtype=np.float32)
        self.inverse_norms = np.empty(len(X), dtype=np.float32) if inverse_norms is None else inverse_norms
        for start, block in float32_blocks(X, block_rows):
            rows = slice(start, start + len(block))
            if inverse_norms is None:
                self.inverse_norms[rows] = block_inverse_norms(block)
            projected = (block * self.inverse_norms[rows, None]) @ basis
            self.first[rows], self.rest[rows] = projected[:, :first], projected[:, first:]
        unit = (self.inverse_norms > 0).astype(np.float32)  # a unit row's squared length; 0 for an all-zero row
        left = unit - np.einsum("ij,ij->i", self.first, self.first)
        self.residual_first = np.sqrt(np.maximum(left, 0))  # what the first directions leave of each row
        self.residual = np.sqrt(np.maximum(left - np.einsum("ij,ij->i", self.rest, self.rest), 0))
        self.rows_read = 0  # rows read by the last query (for benchmarks and tests)

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of each query's k most similar rows, best first (as ``nearest``)."""
        unit_queries = unit_rows(queries, np.float32)
        q_first, q_rest = unit_queries @ self.basis_first, unit_queries @ self.basis_rest
        q_left = np.einsum("ij,ij->i", unit_queries, unit_queries) - np.einsum("ij,ij->i", q_first, q_first)
        q_residual_first = np.sqrt(np.maximum(q_left, 0))
        q_residual = np.sqrt(np.maximum(q_left - np.einsum("ij,ij->i", q_rest, q_rest), 0))
        k = min(k, len(self.X))
        approx = q_first @ self.first.T
        threshold = self._threshold(approx, np.arange(len(self.X)), unit_queries, k)
        rows = _reaching(approx, q_residual_first, self.residual_first, threshold)
        approx = approx[:, rows] + q_rest @ self.rest[rows].T  # on every direction kept
        threshold = np.maximum(threshold, self._threshold(approx, rows, unit_queries, k))
        rows = rows[_reaching(approx, q_residual, self.residual[rows], threshold)]
        self.rows_read = len(rows)
        idx, sims = top_k(self._exact(rows, unit_queries), k)
        return rows[idx], sims

    def _threshold(self, approx: np.ndarray, rows: np.ndarray, unit_queries: np.ndarray, k: int) -> np.ndarray:
        """Each query's k-th best true similarity among the k ``rows`` it is projected nearest to: at most its
        k-th best over all rows, so every row of the answer has a bound that reaches it."""
        best = rows[np.unique(top_k(approx, k)[0])]
        return top_k(self._exact(best, unit_queries), k)[1][:, -1]

    def _exact(self, rows: np.ndarray, unit_queries: np.ndarray) -> np.ndarray:
        """True cosine similarities (queries × these rows), computed as ``project.nearest`` computes them."""
        return similarities(self.X[rows], unit_queries, self.block_rows) * self.inverse_norms[rows]


def _reaching(approx: np.ndarray, q_residual: np.ndarray, residual: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Columns whose bound (``approx`` + Cauchy–Schwarz on what the directions leave) reaches any query's
    threshold."""
    bound = np.multiply.outer(q_residual, residual)
    bound += approx
    return np.flatnonzero(np.any(bound >= (threshold - SLACK)[:, None], axis=0))


def top_directions(rows: np.ndarray, n: int) -> np.ndarray:
    """An orthonormal ``(d, n)`` basis of the ``n`` directions in which ``rows`` are longest (uncentred PCA),
    from their Gram matrix (``rows @ rows.T``: small when rows are few and long). Orthonormalised last, so that
    the bound holds whatever the rows (repeated, fewer than ``n`` independent ones)."""
    _, vectors = np.linalg.eigh(rows @ rows.T)  # eigenvalues ascending
    directions = rows.T @ vectors[:, ::-1][:, :n]
    return np.ascontiguousarray(np.linalg.qr(directions)[0], dtype=np.float32)

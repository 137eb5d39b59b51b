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

from .project import BLOCK_ROWS, float32_blocks, similarities, top_k, unit_rows

INDEX_MIN_ROWS = 20_000  # below this, reading every row is as fast (and the index costs time to build)
MIN_WIDTH = 512  # narrower layers are read whole as fast (measured: 256 numbers, 0.025 s either way)
SAMPLE_ROWS = 1024  # rows the directions are found on (their Gram matrix: 1024 x 1024)
SLACK = 1e-3  # added to every bound: covers float32 rounding of the projections (errors ~1e-6)


def components_for(width: int) -> int:
    """Directions kept for rows of ``width`` numbers: an eighth, 128 to 256 (51–102 MB per layer at 100 000
    tracks). More directions read fewer rows but make every query's first pass longer; measured at 100 000
    tracks and 11 queries, 2 816 numbers: 128 → 11 274 rows read, 0.13 s; 256 → 5 396 rows, 0.08 s;
    768 numbers: 128 → 0.030 s, 256 → 0.036 s."""
    return int(np.clip(width // 8, 128, 256))


class CosineIndex:
    """The k most cosine-similar rows of ``X`` to each query, exactly, reading few rows (see the module doc).

    Parameters
    ----------
    X : ndarray (n, d)
        The rows (float16 or float32; a memory map is read block by block, once).
    inverse_norms : ndarray (n,)
        ``project.inverse_norms(X)``: 1 / each row's norm, 0 for an all-zero row.
    components : int, optional
        Directions kept per row (default ``components_for(d)``).
    random_state : int
        Seed of the sample the directions are found on: the same ``X`` gives the same index.
    """

    def __init__(self, X: np.ndarray, inverse_norms: np.ndarray, components: int | None = None,
                 sample_rows: int = SAMPLE_ROWS, random_state: int = 0, block_rows: int = BLOCK_ROWS):
        self.X, self.inverse_norms, self.block_rows = X, inverse_norms, block_rows
        rng = np.random.default_rng(random_state)
        sample = np.sort(rng.choice(len(X), min(len(X), sample_rows), replace=False))
        unit_sample = np.asarray(X[sample], dtype=np.float32) * inverse_norms[sample, None]
        components = components or components_for(X.shape[1])
        self.basis = top_directions(unit_sample, min(components, X.shape[1], len(sample)))
        self.projected = np.empty((len(X), self.basis.shape[1]), dtype=np.float32)
        for start, block in float32_blocks(X, block_rows):
            rows = slice(start, start + len(block))
            self.projected[rows] = (block * inverse_norms[rows, None]) @ self.basis
        unit = (inverse_norms > 0).astype(np.float32)  # a unit row's squared length; 0 for an all-zero row
        self.residual = np.sqrt(np.maximum(unit - np.einsum("ij,ij->i", self.projected, self.projected), 0))
        self.rows_read = 0  # rows read by the last query (for benchmarks and tests)

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of each query's k most similar rows, best first (as ``nearest``)."""
        unit_queries = unit_rows(queries, np.float32)
        q_projected = unit_queries @ self.basis
        q_residual = np.sqrt(np.maximum(np.einsum("ij,ij->i", unit_queries, unit_queries)
                                        - np.einsum("ij,ij->i", q_projected, q_projected), 0))
        approx = q_projected @ self.projected.T
        k = min(k, len(self.X))
        first = np.unique(top_k(approx, k)[0])  # the best projected rows of every query
        threshold = top_k(self._exact(first, unit_queries), k)[1][:, -1]  # k-th best true similarity found
        bound = approx + q_residual[:, None] * self.residual[None, :] + SLACK
        rows = np.flatnonzero(np.any(bound >= threshold[:, None], axis=0))  # every row that could beat it
        self.rows_read = len(rows)
        idx, sims = top_k(self._exact(rows, unit_queries), k)
        return rows[idx], sims

    def _exact(self, rows: np.ndarray, unit_queries: np.ndarray) -> np.ndarray:
        """True cosine similarities (queries × these rows), computed as ``project.nearest`` computes them."""
        return similarities(self.X[rows], unit_queries, self.block_rows) * self.inverse_norms[rows]


def top_directions(rows: np.ndarray, n: int) -> np.ndarray:
    """An orthonormal ``(d, n)`` basis of the ``n`` directions in which ``rows`` are longest (uncentred PCA),
    from their Gram matrix (``rows @ rows.T``: small when rows are few and long). Orthonormalised last, so that
    the bound holds whatever the rows (repeated, fewer than ``n`` independent ones)."""
    _, vectors = np.linalg.eigh(rows @ rows.T)  # eigenvalues ascending
    directions = rows.T @ vectors[:, ::-1][:, :n]
    return np.ascontiguousarray(np.linalg.qr(directions)[0], dtype=np.float32)

"""New points on a fixed t-SNE map: openTSNE's ``transform``, in numpy, at a cost that does not grow with the map.

What openTSNE's ``TSNEEmbedding.transform`` does for each new point (the
settings the tests' oracle, ``tests/tsne_oracle.py``, uses), and what this module does too:

1. its ``3 × perplexity`` (15) nearest reference points by cosine distance,
   with Gaussian affinities calibrated to perplexity 5 (``affinities``);
2. start at the median map position of those neighbours;
3. 250 steps of gradient descent (learning rate 0.1, momentum 0.8,
   exaggeration 1.5, per-coordinate gains, gradient norm clipped to 0.25):
   attraction to its neighbours, repulsion from every reference point.

The difference is the repulsion. openTSNE builds a quad tree over all N
reference points at every step (Barnes–Hut), which made a song take 8–10 s on
a 10 000-track map. The reference never moves, so the repulsion is a fixed
field over the plane: ``RepulsionField`` computes it once per map on a grid
(an FFT convolution of the points with the t-SNE kernels) and each step reads
it by bilinear interpolation, O(1) per point. All maps' points are optimised
together, in one vectorised loop (``place_points``).
"""
from __future__ import annotations

import numpy as np

PERPLEXITY = 5.0
N_NEIGHBOURS = 15  # openTSNE: 3 × perplexity
N_ITER = 250
LEARNING_RATE = 0.1
MOMENTUM = 0.8
EXAGGERATION = 1.5
MAX_GRAD_NORM = 0.25
MIN_GAIN = 0.01


def unit_rows(X: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero), as ``dtype``: the one normaliser (maps, placement)."""
    X = np.asarray(X, dtype=dtype)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


BLOCK_ROWS = 2048  # rows of a float16 reference converted at a time (a few MB: stays in cache)


def float32_blocks(X: np.ndarray, block_rows: int = BLOCK_ROWS):
    """``(start, rows as float32)`` for consecutive blocks of ``X``, converted into one reused buffer (a float16
    memory map is read once, without a float32 copy of all of it); a float32 ``X`` gives views of itself."""
    buffer = None if X.dtype == np.float32 else np.empty((min(block_rows, len(X)), X.shape[1]), dtype=np.float32)
    for start in range(0, len(X), block_rows):
        rows = X[start : start + block_rows]
        if buffer is not None:
            buffer[: len(rows)] = rows
            rows = buffer[: len(rows)]
        yield start, rows


def inverse_norms(X: np.ndarray) -> np.ndarray:
    """1 / each row's L2 norm (0 for an all-zero row), float32: cosine similarity without a normalised copy."""
    out = np.empty(len(X), dtype=np.float32)
    for start, block in float32_blocks(X):
        out[start : start + len(block)] = block_inverse_norms(block)
    return out


def block_inverse_norms(rows: np.ndarray) -> np.ndarray:
    """``inverse_norms`` of rows already in memory as float32."""
    norms = np.linalg.norm(rows, axis=1).astype(np.float32)
    return np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)


def similarities(reference: np.ndarray, unit_queries: np.ndarray, block_rows: int | None = None) -> np.ndarray:
    """(n_queries, n_reference) dot products of float32 unit queries with every reference row.

    ``reference @ queries.T`` reads the (large) reference once, row by row: ~30 % faster than
    ``queries @ reference.T``. A float16 reference (a large bundle's wide layers) is converted
    ``block_rows`` rows at a time: converting it whole made a float32 copy of up to 1.1 GB per layer on
    every placement (100 000 tracks: 6.8 of a placement's 9.4 s, most of it the copy's fresh pages).
    """
    block_rows = block_rows or BLOCK_ROWS
    if reference.dtype == np.float32 or len(reference) <= block_rows:
        return (np.asarray(reference, dtype=np.float32) @ unit_queries.T).T
    out = np.empty((len(unit_queries), len(reference)), dtype=np.float32)
    for start, block in float32_blocks(reference, block_rows):
        out[:, start : start + len(block)] = (block @ unit_queries.T).T
    return out


PREFILTER_GROUP = 64  # top_k over many columns: each group of 64 columns' maximum first


def top_k(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's k largest values, largest first; ties go to the lower index.

    Over many columns (a large collection) only the columns that reach a floor are sorted: the k-th largest
    of the column groups' maxima, which at least k values reach, so every one of the k largest does
    (100 000 columns: 1 ms instead of 12 for 11 rows).
    """
    n_groups = sims.shape[1] // PREFILTER_GROUP
    if 0 < k < n_groups:
        maxima = sims[:, : n_groups * PREFILTER_GROUP].reshape(len(sims), n_groups, PREFILTER_GROUP).max(axis=2)
        floor = np.partition(maxima, n_groups - k, axis=1)[:, n_groups - k]
        columns = np.flatnonzero(np.any(sims >= floor[:, None], axis=0))
        idx, top = _sorted_top_k(sims[:, columns], k)
        return columns[idx], top
    return _sorted_top_k(sims, k)


def _sorted_top_k(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, sims.shape[1])
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else np.tile(np.arange(k), (len(sims), 1))
    part.sort(axis=1)  # index order first, so equal similarities keep it through the stable sort below
    top = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(top, order, axis=1)


def nearest(reference: np.ndarray, queries: np.ndarray, k: int,
            reference_inverse_norms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of each query's k most similar reference rows, best first.

    One matrix product for all queries; ties go to the lower index (as a stable
    sort). ``reference_inverse_norms`` (``inverse_norms(reference)``) lets a
    caller keep one copy of a large reference instead of a normalised second one.
    A large reference has ``search.CosineIndex``: the same answer from few of its rows.
    """
    inv = inverse_norms(reference) if reference_inverse_norms is None else reference_inverse_norms
    return top_k(similarities(reference, unit_rows(queries, np.float32)) * inv, k)


def affinities(distances: np.ndarray, perplexity: float = PERPLEXITY, tol: float = 1e-8,
               max_iter: int = 200) -> np.ndarray:
    """Row-normalised Gaussian affinities ``exp(-d² β)``, β per row set so each row's perplexity is
    ``perplexity`` (openTSNE's ``compute_gaussian_perplexity``, vectorised over rows).

    openTSNE bisects β to an entropy within ``tol``, each row on its own; here
    Newton steps on the same bracket reach the same root in a handful of steps
    instead of ~40 (a step that would leave the bracket bisects it instead),
    and a row stops when it has converged, so its β does not depend on the
    other rows of the batch.
    """
    d2 = np.asarray(distances, dtype=np.float64) ** 2
    target = np.log(min(perplexity, d2.shape[1]))
    beta = np.ones(len(d2))
    lo, hi = np.zeros(len(d2)), np.full(len(d2), np.inf)
    for _ in range(max_iter):
        P = np.exp(-d2 * beta[:, None])
        total = np.maximum(P.sum(axis=1), 1e-12)
        P /= total[:, None]
        mean_d2 = (d2 * P).sum(axis=1)
        diff = np.log(total) + beta * mean_d2 - target  # entropy − target
        active = np.abs(diff) > tol  # a row that has converged keeps its β: rows do not depend on each other
        if not active.any():
            break
        up = diff > 0  # too flat: sharpen (larger β)
        lo = np.where(up & active, beta, lo)
        hi = np.where(up | ~active, hi, beta)
        slope = beta * ((d2 * d2 * P).sum(axis=1) - mean_d2**2)  # −d entropy / dβ = β Var_P(d²)
        with np.errstate(all="ignore"):  # a flat row (no slope): bisect
            newton = beta + diff / slope
        bisect = np.where(np.isinf(hi), beta * 2, (lo + hi) / 2)
        beta = np.where(active, np.where((newton > lo) & (newton < hi), newton, bisect), beta)
    return P / P.sum(axis=1, keepdims=True)


def _kernels(size: int, spacing: float) -> np.ndarray:
    """The t-SNE kernels on a (size, size) periodic grid of offsets: 1/(1+r²) and r/(1+r²)² (x and y)."""
    offsets = np.fft.fftfreq(size, d=1.0 / size) * spacing  # 0, h, 2h, …, -h: the layout FFT convolution wants
    dx, dy = np.meshgrid(offsets, offsets, indexing="ij")
    q = 1.0 / (1.0 + dx**2 + dy**2)
    return np.stack([q, dx * q**2, dy * q**2])


def fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c ≥ n: FFTs of other sizes (a large prime factor) are many times slower."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


class RepulsionField:
    """The repulsion of fixed sets of 2-D points (one per map), anywhere in the plane.

    For each map, ``Z(y) = Σ 1/(1+|y−y_j|²)`` and ``V(y) = Σ (y−y_j)/(1+|y−y_j|²)²``
    on a grid covering its points with a margin: the points are spread onto
    the grid (bilinear weights), convolved with the kernels by FFT, and read
    back by bilinear interpolation. Both steps are second-order accurate in
    the grid spacing, at most ``max_spacing`` map units (the kernels vary on a
    scale of 1) unless that would need more than ``max_cells`` per side: at
    0.2 the field is within a few % of the exact sums (Barnes–Hut at θ = 0.5,
    openTSNE's, is no closer) and placements move by under 1 % of the gap
    between neighbouring map points (measured on the 253-track bundle). Points
    off a grid get the exact sums. All maps' grids sit in one array, so one
    gather reads every map's points.
    """

    def __init__(self, maps: dict[str, np.ndarray], max_spacing: float = 0.2, max_cells: int = 768,
                 margin: float = 0.1):
        self.keys = list(maps)
        self.points = [np.asarray(maps[k], dtype=np.float64) for k in self.keys]
        frames = [_grid_frame(p, max_spacing, max_cells, margin) for p in self.points]
        self.origin = np.array([f[0] for f in frames])  # (n_maps, 2)
        self.spacing = np.array([f[1] for f in frames])  # (n_maps,)
        self.cells = max(f[2] for f in frames)  # one size for all, so the grids stack
        grids = [_fields(p, o, h, self.cells) for p, (o, h, _) in zip(self.points, frames)]
        self.grid = np.stack(grids).astype(np.float32)

    def __call__(self, y: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Z, V) at points ``y`` (m, 2) of maps ``owner`` (m,) (indices into ``keys``): shapes (m,), (m, 2)."""
        return self.reader(owner)(y)

    def reader(self, owner: np.ndarray):
        """``y → self(y, owner)`` for points whose maps stay ``owner``: what the steps share is set up once.

        Each read is one gather of every point's four grid corners (Z, Vx, Vy each) and a weighted sum.
        """
        owner = np.asarray(owner, dtype=np.int64)
        origin, scale = self.origin[owner], 1.0 / self.spacing[owner][:, None]
        cells, flat = self.cells, self.grid.reshape(-1, 3)
        first = owner * cells * cells
        corners = np.array([0, 1, cells, cells + 1])  # (i, j), (i, j+1), (i+1, j), (i+1, j+1)

        def read(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            g = (y - origin) * scale
            base = np.clip(np.floor(g).astype(np.int64), 0, cells - 2)
            fx, fy = (g - base).T
            gx, gy = 1.0 - fx, 1.0 - fy
            weights = np.stack([gx * gy, gx * fy, fx * gy, fx * fy], axis=1)  # (m, 4)
            values = flat[(first + base[:, 0] * cells + base[:, 1])[:, None] + corners]  # (m, 4, 3)
            out = np.einsum("mc,mcv->mv", weights, values)
            if g.min() < 0 or g.max() > cells - 1:  # rare: a point pushed beyond the margin
                for row in np.flatnonzero(np.any((g < 0) | (g > cells - 1), axis=1)):
                    out[row] = exact_fields(self.points[owner[row]], y[row : row + 1])[0]
            return out[:, 0], out[:, 1:]

        return read


def _grid_frame(points: np.ndarray, max_spacing: float, max_cells: int, margin: float):
    """(origin, spacing, cells) of a square grid covering ``points`` with a margin."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = margin * float(np.max(high - low)) + 3.0
    extent = float(np.max(high - low)) + 2 * pad
    cells = int(min(max_cells, np.ceil(extent / max_spacing))) + 1
    return low - pad, extent / (cells - 1), cells


def _fields(points: np.ndarray, origin: np.ndarray, spacing: float, cells: int) -> np.ndarray:
    """(cells, cells, 3): Z, Vx, Vy at the grid nodes, by FFT convolution of the spread-out points."""
    g = (points - origin) / spacing
    base = np.floor(g).astype(np.int64)
    fx, fy = (g - base).T
    size = fft_size(2 * cells)  # zero-padded to twice the size: a linear, not circular, convolution
    density = np.zeros((size, size))
    for di, dj, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(density, (base[:, 0] + di, base[:, 1] + dj), w)
    spectrum = np.fft.rfft2(density)
    fields = [np.fft.irfft2(spectrum * np.fft.rfft2(k), s=density.shape)[:cells, :cells]
              for k in _kernels(size, spacing)]
    return np.stack(fields, axis=-1)


def exact_fields(points: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(m, 3): Z, Vx, Vy summed over every point (the reference for ``RepulsionField``)."""
    diff = y[:, None, :] - points[None, :, :]
    q = 1.0 / (1.0 + np.sum(diff**2, axis=-1))
    return np.concatenate([q.sum(axis=1)[:, None], np.einsum("mn,mnd->md", q**2, diff)], axis=1)


def place_points(field: RepulsionField, queries: dict[str, tuple[np.ndarray, np.ndarray]],
                 n_iter: int = N_ITER) -> dict[str, np.ndarray]:
    """Map positions of new points, every map's together.

    Parameters
    ----------
    field : the maps' repulsion (its ``keys`` name the maps).
    queries : map key → (neighbours (m, k) indices into that map's points, affinities P (m, k)).

    Returns
    -------
    map key → (m, 2) positions. openTSNE's transform optimiser: each new point
    feels only the fixed reference (never the other new points), so all
    points, of all maps, take their steps side by side in one loop.
    """
    keys = list(queries)
    slot = {k: i for i, k in enumerate(field.keys)}
    sizes = [len(queries[k][1]) for k in keys]
    anchors = np.concatenate([field.points[slot[k]][queries[k][0]] for k in keys])  # (M, k, 2)
    P = np.concatenate([queries[k][1] for k in keys]) * EXAGGERATION
    owner = np.repeat([slot[k] for k in keys], sizes)
    y = np.median(anchors, axis=1)  # openTSNE's "median" initialisation
    update, gains = np.zeros_like(y), np.ones_like(y)
    repulsion = field.reader(owner)
    for _ in range(n_iter):
        diff = y[:, None, :] - anchors
        q = 1.0 / (1.0 + np.einsum("mkd,mkd->mk", diff, diff))
        Z, V = repulsion(y)
        grad = np.einsum("mk,mkd->md", P * q, diff) - V / (Z[:, None] + 1e-12)
        norm = np.sqrt(np.einsum("md,md->m", grad, grad))[:, None]
        grad *= np.minimum(1.0, MAX_GRAD_NORM / (norm + 1e-6))
        flipped = np.sign(update) != np.sign(grad)
        gains = np.where(flipped, gains + 0.2, gains * 0.8 + MIN_GAIN)
        update = MOMENTUM * update - LEARNING_RATE * gains * grad
        y = y + update
    return dict(zip(keys, np.split(y, np.cumsum(sizes)[:-1])))

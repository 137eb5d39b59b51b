"""2-D t-SNE maps, genre×genre cosine similarity and embedding-quality numbers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openTSNE
from sklearn.manifold import trustworthiness
from sklearn.metrics import silhouette_score
from sklearn.neighbors import KNeighborsClassifier

from .networks import layer_groups, split_key
from .project import unit_rows


@dataclass(frozen=True)
class MapConfig:
    """The t-SNE settings of a bundle's maps, recorded in ``bundle.json`` under ``maps.params``.

    The layout's seed is the build's (``BuildConfig.seed``). Placing new songs assumes cosine maps
    (``project.py`` reproduces openTSNE's ``transform`` for them).
    """

    perplexity: float = 30.0  # capped for small collections (``MapProjector``)
    metric: str = "cosine"

    def params(self, seed: int) -> dict:
        """The keyword arguments of ``MapProjector``, as ``bundle.json`` records them."""
        return {"perplexity": self.perplexity, "random_state": seed, "metric": self.metric}


def genre_similarity(X: np.ndarray, genres, labels) -> np.ndarray:
    """Mean cosine similarity between all pairs of songs, grouped by genre.

    Returns a (G, G) matrix; the diagonal averages distinct pairs only (a
    song's similarity with itself, always 1, is left out).
    """
    U = unit_rows(X)
    S = U @ U.T
    genres = np.asarray(genres)
    out = np.full((len(labels), len(labels)), np.nan)
    for i, a in enumerate(labels):
        ia = genres == a
        for j, b in enumerate(labels):
            block = S[np.ix_(ia, genres == b)]
            if i == j:
                n = block.shape[0]
                out[i, j] = (block.sum() - np.trace(block)) / (n * (n - 1)) if n > 1 else np.nan
            elif block.size:
                out[i, j] = block.mean()
    return out


class MapProjector:
    """A fitted t-SNE map: its reference vectors and their 2-D coordinates.

    New points are placed on it by ``project.py`` (the one placement path);
    openTSNE's own ``transform``, the reference that module reproduces, is
    the tests' oracle (``tests/tsne_oracle.py``).

    Parameters
    ----------
    perplexity : for the reference map; capped for small sets.
    random_state : fixes the layout.
    """

    def __init__(self, perplexity: float = MapConfig.perplexity, random_state: int = 0,
                 metric: str = MapConfig.metric):
        self.perplexity = perplexity
        self.random_state = random_state
        self.metric = metric
        self.reference_ = None
        self.coords_ = None

    def perplexity_for(self, n: int) -> float:
        return float(max(2.0, min(self.perplexity, (n - 1) / 3)))

    def fit(self, X: np.ndarray, follow: np.ndarray | None = None) -> "MapProjector":
        """Fit the map of ``X``; with ``follow`` (another map of the same points, e.g. the previous layer's),
        turn the result onto it (orthogonal Procrustes), so that each point lies as near as it can to where it was
        there without changing a single distance in the map.

        Why not start the fit from ``follow`` (openTSNE's way of relating maps): on the 253 GTZAN tracks, starting
        from the previous layer's map, or from a blend of it and the layer's own PCA layout, cost up to 0.025 of
        the map's k-NN genre accuracy (mean of 3 seeds); turning costs nothing, as trustworthiness and k-NN
        accuracy do not change under rotation (benchmarks/map_alignment.py).
        """
        X = np.asarray(X, dtype=np.float64)
        tsne = openTSNE.TSNE(
            perplexity=self.perplexity_for(len(X)), metric=self.metric, random_state=self.random_state,
            neighbors="exact", n_jobs=1,
        )
        emb = np.asarray(tsne.fit(X))
        if follow is not None:
            emb = rotated_onto(emb, np.asarray(follow, dtype=np.float64))
        # openTSNE's transform() re-centres the reference in place; centring it now makes that a no-op.
        coords = emb - (np.max(emb, axis=0) + np.min(emb, axis=0)) / 2
        return self.set_state(X, coords)

    def set_state(self, reference: np.ndarray, coords: np.ndarray) -> "MapProjector":
        """Restore a fitted map from its reference vectors and 2-D coordinates."""
        self.reference_ = np.asarray(reference, dtype=np.float64)
        self.coords_ = np.asarray(coords, dtype=np.float64)
        return self


def unit_spread(coords: np.ndarray) -> np.ndarray:
    """A map centred on its centroid and scaled to unit RMS distance from it."""
    centred = np.asarray(coords, dtype=np.float64) - np.mean(coords, axis=0)
    return centred / max(float(np.sqrt((centred ** 2).sum(axis=1).mean())), 1e-12)


def rotated_onto(coords: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``coords`` turned (rotation or mirror, about its centroid, onto ``target``'s centroid) to lie closest to
    ``target``, row by row (orthogonal Procrustes). Distances within the map do not change, and neither does its
    scale: a map's scale matters to placing new songs on it (t-SNE's kernel is not scale-free)."""
    a = coords - coords.mean(axis=0)
    b = target - target.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    return a @ (u @ vt) + target.mean(axis=0)


def layer_maps(vectors: dict, order, params: dict) -> dict:
    """One fitted ``MapProjector`` per embedding key, maps that follow each other along ``order``.

    ``order`` lists groups of keys (one group per network, its layers from input to output); each layer's map
    starts from the previous layer's of its group, so a track stays recognisably in place from one layer to the
    next (the first layer's map is fitted on its own). Keys of ``vectors`` in no group get maps of their own.
    """
    maps = {}
    for group in order:
        previous = None
        for key in (k for k in group if k in vectors):
            maps[key] = MapProjector(**params).fit(vectors[key], follow=previous)
            previous = maps[key].coords_
    for key in (k for k in vectors if k not in maps):
        maps[key] = MapProjector(**params).fit(vectors[key])
    return {k: maps[k] for k in vectors}


def knn_genre_accuracy(points: np.ndarray, genres, k: int = 5, metric: str = "cosine") -> float:
    """Leave-one-out k-NN genre accuracy of ``points`` (a majority of the k nearest others; ties: the first
    genre in sorted order). ``metric="euclidean"`` on a 2-D map scores the map itself."""
    genres = np.asarray(genres)
    k = max(1, min(k, len(points) - 2))
    knn = KNeighborsClassifier(n_neighbors=k + 1, metric=metric).fit(points, genres)
    _, idx = knn.kneighbors(points)
    votes = genres[idx[:, 1:]]  # drop each point itself
    pred = []
    for row in votes:
        names, counts = np.unique(row, return_counts=True)
        pred.append(names[np.argmax(counts)])
    return float(np.mean(np.array(pred) == genres))


def embedding_quality(X: np.ndarray, coords: np.ndarray, genres, k: int = 5) -> dict:
    """How well an embedding and its map keep genres and neighbourhoods.

    Returns
    -------
    dict with ``knn_accuracy`` (leave-one-out k-NN genre accuracy, cosine,
    in the full-dimensional space), ``silhouette`` (cosine, by genre) and
    ``trustworthiness`` (of the 2-D map, ``k`` neighbours).
    """
    genres = np.asarray(genres)
    U = unit_rows(X)
    k = max(1, min(k, len(U) - 2))
    n_genres = len(set(genres))
    sil = float(silhouette_score(U, genres, metric="cosine")) if 1 < n_genres < len(U) else float("nan")
    return {
        "knn_accuracy": knn_genre_accuracy(U, genres, k),
        "silhouette": sil,
        "trustworthiness": float(trustworthiness(U, coords, n_neighbors=k, metric="cosine")),
    }


def stored_vectors(key: str, vectors: np.ndarray) -> np.ndarray:
    """Track vectors as the bundle stores them: the wide layers in float16, the others in float32."""
    wide = split_key(key)[1] in ("none", "immediate")
    return vectors.astype(np.float16 if wide else np.float32)


def map_arrays(per_track: dict, genres, labels, seed: int) -> tuple[dict, dict, dict]:
    """Per embedding: its stored vectors, t-SNE map and genre similarity; (arrays, quality, map parameters)."""
    map_params = MapConfig().params(seed)
    arrays, quality = {}, {}
    projectors = layer_maps(per_track, layer_groups(per_track), map_params)  # each layer's map turned onto the last's
    for e, vectors in per_track.items():
        proj = projectors[e]
        # the wide layers (none: 2 048 / 768 pixel averages in [0, 1]; immediate: 2 816 / 1 506 pooled
        # activations) in float16: 1e-3 relative, invisible to cosine searches (which read float32), and the
        # shipped bundle stays under 25 MB. The maps above were fitted on the float32 vectors.
        arrays[f"track_{e}"] = stored_vectors(e, vectors)
        arrays[f"map_{e}"] = proj.coords_.astype(np.float32)
        arrays[f"similarity_{e}"] = genre_similarity(vectors, genres, labels)
        quality[e] = embedding_quality(vectors, proj.coords_, genres)
    return arrays, quality, map_params

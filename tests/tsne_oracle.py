"""The reference the placement path is checked against: openTSNE's own ``transform`` and a plain cosine search.

The product places new points with ``pipeline.project`` only (numpy, a
precomputed repulsion field). These are what it reproduces, kept out of the
product: openTSNE's ``TSNEEmbedding.transform`` on a fitted
``maps.MapProjector`` (the settings ``project.py`` copies) and the k most
similar reference rows by cosine.
"""
from __future__ import annotations

import numpy as np
import openTSNE

from pipeline.maps import MapProjector
from pipeline.project import unit_rows


def nearest_tracks(query: np.ndarray, reference_unit: np.ndarray, k: int = 5):
    """Indices and cosine similarities of the k most similar rows of ``reference_unit`` (``unit_rows`` already)."""
    q = unit_rows(np.atleast_2d(query))[0]
    sims = reference_unit @ q
    order = np.argsort(-sims, kind="stable")[:k]
    return order, sims[order]


class OracleProjector(MapProjector):
    """A ``MapProjector`` with openTSNE's ``transform``: 2-D positions of new points, the reference unchanged."""

    _embedding = None

    def set_state(self, reference: np.ndarray, coords: np.ndarray) -> "OracleProjector":
        super().set_state(reference, coords)
        self._embedding = None
        return self

    def affinities(self) -> openTSNE.affinity.PerplexityBasedNN:
        # The kNN index over the reference is the costly part: built once, then only read.
        if self._embedding is None:
            self._embedding = openTSNE.affinity.PerplexityBasedNN(
                self.reference_, perplexity=self.perplexity_for(len(self.reference_)), method="exact",
                metric=self.metric, random_state=self.random_state,
            )
        return self._embedding

    def transform(self, X: np.ndarray) -> np.ndarray:
        """openTSNE re-centres the reference it transforms against in place, so each call works on its own copy
        (which also makes concurrent calls safe)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        # openTSNE works in a frame centred on the reference's bounding box;
        # new points are shifted back into the saved map's own frame.
        centre = (self.coords_.max(axis=0) + self.coords_.min(axis=0)) / 2
        ref = openTSNE.TSNEEmbedding(self.coords_ - centre, self.affinities(), random_state=self.random_state)
        k = min(25, len(self.reference_) - 1)
        new = ref.transform(X, perplexity=min(5.0, max(1.0, (k - 1) / 3)), k=k)
        return np.asarray(new, dtype=np.float64) + centre

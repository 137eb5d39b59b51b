"""The genre predictor a bundle names: a network's head, a logistic probe, nearest neighbours, or two blended.

The build scores every candidate on the same grouped cross-validation folds
(``pipeline.candidates``) and stores the winner: its description in
``bundle.json`` under ``genre_predictor``, a probe's scaler and coefficients
in ``predictor.safetensors`` (no pickle), neighbours from the bundle's own
track vectors. Applying it needs numpy only (``place`` imports no scikit-learn
or torch).

Every ``Predictor.predict`` is row-wise: ``vectors`` maps embedding keys
(``immediate``, ``<network>.immediate``) to (n, dim) rows, ``head`` maps network
names to those rows' (n, n_labels) head probabilities; it returns (n, n_labels)
probabilities, each row summing to 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .networks import split_key

PREDICTOR_FILE = "predictor.safetensors"
META_KEY = "genre_predictor"


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@dataclass
class Head:
    """A network's own trained head: its probabilities as they are."""

    network: str
    name: str = ""
    score: dict = field(default_factory=dict)

    def predict(self, vectors: dict, head: dict) -> np.ndarray:
        p = np.asarray(head[self.network], dtype=np.float64)
        return p / p.sum(axis=1, keepdims=True)

    @property
    def networks(self) -> list[str]:
        return [self.network]


@dataclass
class Probe:
    """Class-weighted multinomial logistic regression on standardised vectors of one embedding."""

    embedding: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_labels, dim)
    intercept: np.ndarray  # (n_labels,)
    name: str = ""
    score: dict = field(default_factory=dict)

    def predict(self, vectors: dict, head: dict) -> np.ndarray:
        x = (np.asarray(vectors[self.embedding], dtype=np.float64) - self.mean) / self.scale
        return softmax(x @ self.coef.T + self.intercept)

    def tensors(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}/{k}": np.ascontiguousarray(getattr(self, k), dtype=np.float32)
                for k in ("mean", "scale", "coef", "intercept")}

    @property
    def networks(self) -> list[str]:
        return [embedding_network(self.embedding)]


@dataclass
class Neighbours:
    """The k reference tracks most similar by cosine vote for their genres, each vote weighted by its similarity."""

    embedding: str
    k: int
    reference: np.ndarray  # (n_tracks, dim)
    labels: np.ndarray  # (n_tracks,) genre indices
    n_labels: int
    name: str = ""
    score: dict = field(default_factory=dict)

    def __post_init__(self):
        ref = np.asarray(self.reference, dtype=np.float32)
        norms = np.linalg.norm(ref, axis=1)
        self._inverse = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0).astype(np.float32)
        self.reference = ref

    def predict(self, vectors: dict, head: dict) -> np.ndarray:
        q = np.asarray(vectors[self.embedding], dtype=np.float32)
        qn = np.linalg.norm(q, axis=1, keepdims=True)
        sims = (q @ self.reference.T) * self._inverse / np.maximum(qn, 1e-12)
        k = min(self.k, sims.shape[1])
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        votes = np.zeros((len(q), self.n_labels))
        weight = np.maximum(np.take_along_axis(sims, idx, axis=1), 1e-6)  # a zero or opposed vector still votes
        np.add.at(votes, (np.repeat(np.arange(len(q)), k), self.labels[idx].ravel()), weight.ravel())
        return votes / votes.sum(axis=1, keepdims=True)

    @property
    def networks(self) -> list[str]:
        return [embedding_network(self.embedding)]


@dataclass
class Blend:
    """A weighted mean of other predictors' probabilities (weights sum to 1)."""

    parts: list  # [(weight, predictor)]
    name: str = ""
    score: dict = field(default_factory=dict)

    def predict(self, vectors: dict, head: dict) -> np.ndarray:
        return sum(w * p.predict(vectors, head) for w, p in self.parts)

    @property
    def networks(self) -> list[str]:
        return [n for _, p in self.parts for n in p.networks]


def embedding_network(key: str) -> str:
    return split_key(key)[0]


def describe(spec: dict) -> dict:
    """A predictor's JSON description without its tensors (what ``bundle.json`` stores)."""
    return {k: v for k, v in spec.items() if k != "model"}


def from_spec(spec: dict, tensors: dict, bundle) -> object:
    """A predictor from its ``bundle.json`` description, its tensors and the bundle (neighbours' reference)."""
    kind, name, score = spec["kind"], spec.get("name", ""), spec.get("score", {})
    if kind == "head":
        return Head(spec["network"], name, score)
    if kind == "probe":
        p = spec["tensors"]
        return Probe(spec["embedding"], *(tensors[f"{p}/{k}"].astype(np.float64)
                                          for k in ("mean", "scale", "coef", "intercept")), name, score)
    if kind == "neighbours":
        labels = {g: i for i, g in enumerate(bundle.labels)}
        y = np.array([labels[g] for g in bundle.tracks["genre"].astype(str)])
        return Neighbours(spec["embedding"], int(spec["k"]), bundle.vectors(spec["embedding"]), y,
                          len(bundle.labels), name, score)
    if kind == "blend":
        return Blend([(float(w), from_spec(part, tensors, bundle)) for w, part in zip(spec["weights"], spec["parts"])],
                     name, score)
    raise ValueError(f"unknown predictor kind {kind!r}")


def head_fallback(bundle, network: str, why: str) -> Head:
    """The head of ``network`` with its CV score, named so the fallback is visible."""
    cv = bundle.meta.get("metrics", {}).get("networks", {}).get(network, {}).get("cross_validation", {})
    kind = "artist" if "artist" in cv else "track" if "track" in cv else None
    score = {"grouping": kind, **cv[kind]["head"]["balanced_accuracy"]} if kind else {}
    return Head(network, f"{network} head ({why})", score)


def load_predictor(bundle, network: str | None = None, available: list[str] | None = None):
    """The bundle's genre predictor, ready to apply (numpy only).

    Parameters
    ----------
    bundle : an opened ``Bundle``.
    network : a network asked for by name (``place --network``): its head predicts.
    available : the networks whose vectors and heads the caller has (default: all the bundle's); a stored
        predictor that needs another one falls back to the head of the bundle's predictor network.

    Old bundles (no stored candidates) fall back to the head of ``bundle.predictor`` and say so in ``.name``.
    """
    available = list(bundle.networks) if available is None else list(available)
    if network is not None:
        return head_fallback(bundle, network, "asked for by name")
    spec = bundle.meta.get(META_KEY)
    fallback = bundle.predictor if bundle.predictor in available else available[0]
    if not isinstance(spec, dict) or "chosen" not in spec:
        return head_fallback(bundle, fallback, "the bundle stores no other candidates")
    tensors = {}
    if PREDICTOR_FILE in bundle.meta.get("files", {}):
        from safetensors.numpy import load_file

        tensors = load_file(bundle.path / PREDICTOR_FILE)
    try:
        predictor = from_spec(spec["chosen"], tensors, bundle)
    except (KeyError, ValueError, TypeError) as e:  # a copy without predictor.safetensors, an edited spec
        return head_fallback(bundle, fallback, f"the stored predictor cannot be read: {type(e).__name__} {e}")
    if not set(predictor.networks) <= set(available):
        return head_fallback(bundle, fallback, f"{predictor.name} needs networks not loaded")
    return predictor


def title(kind: str, networks: list[str], extra: str = "") -> str:
    """A candidate's human name: "<network> probe", "<network>+<other> probes 0.4/0.6"."""
    if len(networks) == 1:
        return f"{networks[0]} {kind}" + (f" {extra}" if extra else "")
    plural = kind if kind.endswith("s") else f"{kind}s"
    return "+".join(networks) + f" {plural}" + (f" {extra}" if extra else "")


__all__ = ["Blend", "Head", "Neighbours", "PREDICTOR_FILE", "Probe", "load_predictor", "title"]


KIND_WHAT = {"head": "the network's trained head",
             "probe": "class-weighted logistic regression on the immediate layer",
             "neighbours": "k nearest tracks by cosine on the immediate layer (k chosen inside the training folds)",
             "blend": "both networks' probabilities averaged (weight chosen inside the training folds)"}


def score_text(score: dict) -> str:
    """"0.755 ± 0.093 (artist-grouped CV balanced accuracy)", or "" without a score."""
    if not score or "mean" not in score:
        return ""
    return f"{score['mean']:.3f} ± {score['std']:.3f} ({score.get('grouping') or 'no'}-grouped CV balanced accuracy)"


def describe_predictor(predictor) -> str:
    """A predictor's name and score in one phrase: "<network> probe, 0.755 ± 0.093 (artist-grouped CV …)"."""
    text = score_text(predictor.score)
    return f"{predictor.name}, {text}" if text else predictor.name


def chosen_phrase(meta: dict) -> str | None:
    """The stored predictor's name and score from bundle.json alone (None: a bundle from before candidates)."""
    chosen = (meta.get(META_KEY) or {}).get("chosen")
    if not chosen:
        return None
    score = score_text(chosen.get("score") or {})
    return f"{chosen['name']}, {score}" if score else chosen["name"]


def candidate_rows(meta: dict) -> list[dict]:
    """Every candidate's row (``genre_predictor`` in bundle.json), best first: name, what, scores, paired difference."""
    spec = meta.get(META_KEY) or {}
    chosen = (spec.get("chosen") or {}).get("candidate")
    rows = []
    for name, r in (spec.get("candidates") or {}).items():
        rows.append({"candidate": name, "chosen": name == chosen, "what": KIND_WHAT.get(r["kind"], r["kind"]),
                     **{k: r[k] for k in ("balanced_accuracy", "accuracy", "macro_f1")}, "vs_chosen": r["vs_chosen"]})
    return sorted(rows, key=lambda row: -row["balanced_accuracy"]["mean"])


def _pm(score: dict) -> str:
    return f"{score['mean']:.3f} ± {score['std']:.3f}"


def candidates_markdown(meta: dict) -> list[str]:
    """The genre predictor's candidates, each scored on the same CV folds, with its paired difference to the
    chosen one (mean ± standard error over the folds); [] for a bundle without them."""
    rows = candidate_rows(meta)
    if not rows:
        return []
    spec = meta[META_KEY]
    last = spec["seed"] + spec["repeats"] - 1
    out = [f"Genre predictor candidates, CV grouped by {spec['grouping']} ({spec['folds']}-fold × {spec['repeats']}, "
           f"seeds {spec['seed']}–{last}; the same folds for every row):", "",
           "| candidate | what | balanced accuracy | accuracy | macro-F1 | minus the chosen (paired) |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        name = f"**{r['candidate']}** (chosen)" if r["chosen"] else r["candidate"]
        d = r["vs_chosen"]
        out.append(f"| {name} | {r['what']} | {_pm(r['balanced_accuracy'])} | {_pm(r['accuracy'])} | "
                   f"{_pm(r['macro_f1'])} | {d['mean']:+.3f} ± {d['se']:.3f} |")
    return out + [""]


def candidates_meaning(meta: dict) -> str:
    """One sentence on what the candidates table says: which differences to the chosen one exceed the noise."""
    spec = meta.get(META_KEY) or {}
    rows = candidate_rows(meta)
    if not rows:
        return ""
    chosen = next(r for r in rows if r["chosen"])
    clear = [r["candidate"] for r in rows if r["vs_chosen"]["mean"] < -2 * r["vs_chosen"]["se"]]
    close = [r["candidate"] for r in rows if not r["chosen"] and r["candidate"] not in clear]
    return (f"What it means: on {spec['grouping']}s the folds held out, the {chosen['candidate']} scores "
            f"{_pm(chosen['balanced_accuracy'])} balanced accuracy, chosen as {spec.get('reason', 'the best')}; "
            + (f"{', '.join(clear)} score{'s' if len(clear) == 1 else ''} lower by more than twice the paired "
               "standard error, " if clear else "")
            + (f"while {', '.join(close)} {'is' if len(close) == 1 else 'are'} within that noise of it "
               "(the folds cannot rank them)." if close else "and no other candidate is within that noise of it.")
            + " The paired column is each row minus the chosen one, fold by fold (mean ± standard error over the "
            "folds; the repeats share tracks, so it understates the spread somewhat).")

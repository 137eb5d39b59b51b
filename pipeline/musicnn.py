"""MusiCNN (MSD): a network pretrained on music, ported to PyTorch.

Pons & Serra, "musicnn: pre-trained convolutional neural networks for music
audio tagging" (ISMIR 2019 LBD; ISC licence, (c) Jordi Pons). The network was
trained on the Million Song Dataset's 50 most frequent last.fm tags. This port
follows the layer-by-layer description shipped with the converted weights
(``weights/musicnn/README.md``) and reads those weights from safetensors, keyed
by their TensorFlow names; it reproduces the original graph's outputs to ~1e-5.

Its front end is its own (16 kHz, 96-band log-compressed mel, 3 s patches;
``musicnn_input``, numpy only, so placing a song needs no torch), not the
ImageNet path's spectrogram images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .musicnn_input import MusiCNNConfig, musicnn_mel, musicnn_patches, slice_patches  # noqa: F401 (re-exported)

BN_EPS = 1e-3  # TensorFlow's default batch-norm epsilon, not PyTorch's 1e-5
N_TAGS = 50
POOL_DIM = 753  # 561 front-end + 3 x 64 mid-end channels


class MusiCNNWeightsError(ValueError):
    """A weights file that is missing or does not hold MusiCNN; ``str()`` is one line."""


# --- the network -----------------------------------------------------------------------------


class ConvReluBN(nn.Module):
    """conv → ReLU → batch norm, MusiCNN's unit (the norm comes after the activation)."""

    def __init__(self, conv: nn.Conv1d, channels: int):
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm1d(channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class FrequencyMaxBranch(nn.Module):
    """One front-end branch: time padding, conv → ReLU → BN, max over the frequency axis."""

    def __init__(self, k_time: int, k_freq: int, filters: int, pad_before: int, pad_after: int):
        super().__init__()
        self.pad = (0, 0, pad_before, pad_after)  # F.pad order: (freq left, right, time before, after)
        self.conv = nn.Conv2d(1, filters, (k_time, k_freq))
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, T, F) → (N, filters, T)
        z = self.conv(F.pad(x, self.pad))
        # ReLU then BN is monotone per channel: rising where gamma >= 0, falling where gamma < 0 (most
        # channels here). So the max over frequency of BN(ReLU(z)) is BN(ReLU(.)) of z's max or min: reducing
        # first gives the same values while the elementwise work runs on a tensor F times smaller (the
        # front end's ReLU/BN passes over (N, C, T, F) took ~40 % of the forward pass).
        rising = (self.bn.weight >= 0)[:, None]
        return self.bn(F.relu(torch.where(rising, z.amax(dim=3), z.amin(dim=3))))


def _same_padding(k: int) -> tuple[int, int]:
    """TensorFlow's "same" padding for stride 1: the extra zero goes after."""
    return (k - 1) // 2, k // 2


class MusiCNN(nn.Module):
    """MusiCNN (MSD) in inference mode.

    Input: (N, T, 96) log-compressed mel patches (T = 187 as trained; any
    T works, the network pools over time).

    Output: a dict of
    ``max_pool``, ``mean_pool`` (N, 753): max / mean over time of the front- and mid-end features;
    ``pooled`` (N, 1506): the two interleaved ``[max_0, mean_0, max_1, ...]``, the back end's input;
    ``penultimate`` (N, 200): the dense layer after ReLU and batch norm;
    ``logits`` (N, 50): tag logits (sigmoid gives the tag probabilities).
    """

    def __init__(self, n_mels: int = 96, n_tags: int = N_TAGS):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        # Timbral branches: filters as tall as 40 % and 70 % of the mel axis, 7 frames wide.
        timbral = [FrequencyMaxBranch(7, int(share * n_mels), 204, 3, 3) for share in (0.4, 0.7)]
        # Temporal branches: 1 band tall, 128 / 64 / 32 frames long.
        temporal = [FrequencyMaxBranch(k, 1, 51, *_same_padding(k)) for k in (128, 64, 32)]
        self.front = nn.ModuleList(timbral + temporal)
        # The mid end's 7 x channels 2-D convs over a one-channel image are 1-D convs over channels.
        self.mid = nn.ModuleList(ConvReluBN(nn.Conv1d(c, 64, 7, padding=3), 64) for c in (561, 64, 64))
        self.pool_bn = nn.BatchNorm1d(2 * POOL_DIM, eps=BN_EPS)
        self.dense = nn.Linear(2 * POOL_DIM, 200)
        self.dense_bn = nn.BatchNorm1d(200, eps=BN_EPS)
        self.out = nn.Linear(200, n_tags)
        self.eval()

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.input_bn(patches.unsqueeze(1))  # (N, 1, T, F)
        front = torch.cat([branch(x) for branch in self.front], dim=1)  # (N, 561, T)
        m1 = self.mid[0](front)
        m2 = self.mid[1](m1) + m1  # residual
        m3 = self.mid[2](m2) + m2
        features = torch.cat([front, m1, m2, m3], dim=1)  # (N, 753, T)
        max_pool, mean_pool = features.amax(dim=2), features.mean(dim=2)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # interleaved, as TF flattened (753, 2)
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return {"max_pool": max_pool, "mean_pool": mean_pool, "pooled": pooled,
                "penultimate": penultimate, "logits": self.out(penultimate)}


# --- weights ---------------------------------------------------------------------------------


def _module_names() -> dict[str, str]:
    """TensorFlow layer name → this port's module path."""
    names = {"batch_normalization": "input_bn", "batch_normalization_9": "pool_bn", "dense": "dense",
             "batch_normalization_10": "dense_bn", "dense_1": "out"}
    # TF numbered the convs in creation order (front end, then mid end); each conv's norm is numbered one higher.
    units = [f"front.{i}" for i in range(5)] + [f"mid.{i}" for i in range(3)]
    for i, unit in enumerate(units):
        names[f"conv2d{f'_{i}' if i else ''}"] = f"{unit}.conv"
        names[f"batch_normalization_{i + 1}"] = f"{unit}.bn"
    return names


_PARAMETER_NAMES = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
                    "moving_mean": "running_mean", "moving_variance": "running_var"}


def _to_torch_layout(value: np.ndarray, target: torch.Tensor) -> torch.Tensor:
    """Rearrange a TF kernel into PyTorch's layout (vectors pass through)."""
    t = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    if t.ndim == 4:  # TF conv [k_time, k_freq, in, out] → PyTorch [out, in, k_time, k_freq]
        t = t.permute(3, 2, 0, 1)
        if target.ndim == 3:  # mid end: a (7 x C) 2-D conv on one channel is a 1-D conv over C channels
            t = t[:, 0].transpose(1, 2)
    elif t.ndim == 2:  # dense [in, out] → Linear [out, in]
        t = t.T
    return t.contiguous()


def musicnn_state_dict(tf_variables: dict[str, np.ndarray], model: MusiCNN) -> dict[str, torch.Tensor]:
    """Map MusiCNN's TensorFlow variables onto ``model``'s state dict.

    Raises
    ------
    MusiCNNWeightsError
        If a variable is missing, unexpected or of the wrong shape.
    """
    target = model.state_dict()
    modules = _module_names()
    state = {k: v for k, v in target.items() if k.endswith("num_batches_tracked")}
    for tf_name, value in tf_variables.items():
        layer, _, parameter = tf_name.partition("/")
        if layer not in modules or parameter not in _PARAMETER_NAMES:
            raise MusiCNNWeightsError(f"not a MusiCNN weights file: unexpected variable {tf_name!r}")
        key = f"{modules[layer]}.{_PARAMETER_NAMES[parameter]}"
        tensor = _to_torch_layout(value, target[key])
        if tensor.shape != target[key].shape:
            raise MusiCNNWeightsError(f"not MusiCNN (MSD) weights: {tf_name} has shape {tuple(value.shape)}")
        state[key] = tensor
    missing = sorted(set(target) - set(state))
    if missing:
        raise MusiCNNWeightsError(f"not a complete MusiCNN weights file: {len(missing)} variables missing "
                                  f"(e.g. {missing[0]})")
    return state


def load_musicnn(path: str | Path) -> MusiCNN:
    """MusiCNN (MSD) in inference mode, from its safetensors file (TensorFlow variable names).

    Parameters
    ----------
    path : str or Path
        e.g. ``../shared/weights/musicnn/msd_musicnn.safetensors``.

    Raises
    ------
    MusiCNNWeightsError
        With a one-line message when the file is missing, unreadable or not MusiCNN.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise MusiCNNWeightsError(f"MusiCNN weights not found: {path}")
    try:
        variables = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        first_line = (str(error).splitlines() or [""])[0]
        raise MusiCNNWeightsError(f"not a safetensors file: {path.name} ({first_line})") from None
    model = MusiCNN()
    model.load_state_dict(musicnn_state_dict(variables, model))
    return model.eval()


# --- ONNX --------------------------------------------------------------------------------------

ONNX_OUTPUTS = ("max_pool", "mean_pool", "pooled", "penultimate", "logits")


class _TupleOutputs(nn.Module):
    """The network with its dict of outputs as a tuple in ``ONNX_OUTPUTS`` order (ONNX graphs have no dicts)."""

    def __init__(self, model: MusiCNN):
        super().__init__()
        self.model = model

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(patches)
        return tuple(out[name] for name in ONNX_OUTPUTS)


class PooledOutput(nn.Module):
    """The network's ``pooled`` output alone (what the build's head learns from)."""

    def __init__(self, model: MusiCNN):
        super().__init__()
        self.model = model

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.model(patches)["pooled"]


def export_onnx(model: MusiCNN, f, cfg: MusiCNNConfig = MusiCNNConfig()) -> None:
    """Write MusiCNN as an ONNX graph (opset 17) with input ``patches`` (batch, frames, n_mels).

    Batch and frame counts are dynamic; the outputs are named as in ``ONNX_OUTPUTS``.

    Parameters
    ----------
    model : MusiCNN
    f : str, Path or binary file object
    cfg : MusiCNNConfig
        Gives the example input's shape.
    """
    import warnings

    # eval() on the wrapper too: export restores the wrapper's mode afterwards, recursively, and a
    # wrapper left in training mode would switch every batch norm to batch statistics.
    wrapper = _TupleOutputs(model).eval()
    example = torch.zeros(2, cfg.patch_frames, cfg.n_mels)
    axes = {"patches": {0: "batch", 1: "frames"}, **{name: {0: "batch"} for name in ONNX_OUTPUTS}}
    with warnings.catch_warnings():  # the legacy exporter's deprecation and constant-folding notes
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, example, f, opset_version=17, dynamo=False, input_names=["patches"],
                          output_names=list(ONNX_OUTPUTS), dynamic_axes=axes)


# --- features for a corpus -------------------------------------------------------------------

FEATURE_OUTPUTS = ("mean_pool", "max_pool", "pooled", "penultimate", "logits")


@torch.no_grad()
def patch_outputs(model: MusiCNN, patches: np.ndarray, batch_size: int = 32) -> dict[str, np.ndarray]:
    """``FEATURE_OUTPUTS`` of the network for a stack of patches, float32 arrays."""
    model.eval()
    parts = [model(torch.from_numpy(patches[i : i + batch_size])) for i in range(0, len(patches), batch_size)]
    return {k: torch.cat([p[k] for p in parts]).numpy().astype(np.float32) for k in FEATURE_OUTPUTS}


def musicnn_features(model: MusiCNN, audios, sr: int, cfg: MusiCNNConfig = MusiCNNConfig(),
                     progress: bool = True, batch_size: int = 32) -> dict[str, np.ndarray]:
    """MusiCNN outputs of every patch of every track.

    Parameters
    ----------
    model : MusiCNN
    audios : list of np.ndarray
        Mono signals at ``sr`` Hz (e.g. from :func:`pipeline.dataset.load_track_audio`).
    sr : int
    cfg : MusiCNNConfig
    progress : bool
        Show a tqdm bar over tracks.
    batch_size : int
        Patches per forward pass.

    Returns
    -------
    dict with ``mean_pool``, ``max_pool`` (n_patches, 753), ``penultimate`` (n_patches, 200),
    ``logits`` (n_patches, 50), ``track`` (patch → index into ``audios``) and ``start_s``.
    """
    outputs: dict[str, list] = {k: [] for k in (*FEATURE_OUTPUTS, "track", "start_s")}
    for i, y in enumerate(tqdm(audios, desc="MusiCNN features", unit="track", disable=not progress)):
        patches, start_s = musicnn_patches(y, sr, cfg)
        for k, v in patch_outputs(model, patches, batch_size).items():
            outputs[k].append(v)
        outputs["track"].append(np.full(len(patches), i, dtype=np.int64))
        outputs["start_s"].append(start_s.astype(np.float64))
    if not audios:
        return {k: np.zeros((0,), dtype=np.float32) for k in outputs}
    return {k: np.concatenate(v) for k, v in outputs.items()}


def track_features(pooled, y: np.ndarray, spec, cfg: MusiCNNConfig = MusiCNNConfig()) -> dict[str, np.ndarray]:
    """What ``build`` needs of MusiCNN for every patch of one track (the head trains on patches).

    Parameters
    ----------
    pooled : patches → their pooled features (``OnnxFeatures`` of ``PooledOutput``).
    y : mono signal at ``spec.sample_rate`` (22 050 Hz).
    spec : the bundle's ``SpectrogramConfig``: its window grid decides each
        patch's share of its track's vector (``window_pooling``), exactly as a
        placed song's windows do.

    Returns
    -------
    dict with ``clean`` (n_patches, 1506: the pooled features, the "immediate"
    layer), ``none`` (n_patches, prod(cfg.none_shape)), ``start_s`` and ``weight``
    (a track's vector is the ``weight``-weighted sum of its patches).
    """
    from .musicnn_input import patch_none, window_pooling
    from .spectrogram import nominal_starts_s

    patches, start_s = musicnn_patches(y, spec.sample_rate, cfg)
    windows_s = nominal_starts_s(len(y), spec)
    return {"clean": pooled(patches), "none": patch_none(patches, cfg), "start_s": start_s.astype(np.float64),
            "weight": window_pooling(start_s, cfg.patch_seconds, windows_s, spec.segment_seconds).mean(axis=0)}


def corpus_features(model: MusiCNN, audios, spec, cfg: MusiCNNConfig = MusiCNNConfig(),
                    progress: bool = True) -> dict[str, np.ndarray]:
    """``track_features`` of every track, concatenated, with ``track`` (patch → track index)."""
    from .embed import concat_track_rows
    from .onnx_features import OnnxFeatures

    pooled = None
    rows = []
    for y in tqdm(audios, desc="MusiCNN features", unit="track", disable=not progress):
        pooled = pooled or OnnxFeatures(PooledOutput(model), musicnn_patches(y, spec.sample_rate, cfg)[0], time_axis=1)
        rows.append(track_features(pooled, y, spec, cfg))
    return concat_track_rows(rows)


class MusiCNNServing(nn.Module):
    """MusiCNN and its new genre head as served: patches → (immediate, deep, shallow, probabilities).

    ``immediate`` is the pooled 1506-d vector (max and mean over time of the
    front- and mid-end features): the network's own back end reads it, and it
    is what the head learns from. Its parameters are named ``musicnn.*`` and
    ``musicnn_head.*`` so they sit beside MobileNetV2's in one weights file.
    """

    def __init__(self, musicnn: MusiCNN, head: nn.Module):
        super().__init__()
        self.musicnn, self.musicnn_head = musicnn, head

    def forward(self, patches: torch.Tensor):
        immediate = self.musicnn(patches)["pooled"]
        out = self.musicnn_head(immediate)
        return immediate, out["deep"], out["shallow"], torch.softmax(out["logits"], -1)

    @torch.no_grad()
    def head_outputs(self, immediate: np.ndarray) -> dict[str, np.ndarray]:
        """deep, shallow and probabilities from given pooled features (the ONNX check's second half).

        The head standardises features whose spread can be tiny on a small
        training set, which magnifies the runtimes' float32 rounding in the
        pooled features (~1e-6 relative) far past any fixed tolerance; so the
        graph's MusiCNN part is checked on its output and its head on the
        graph's own features, each to the build's tolerance.
        """
        out = self.musicnn_head(torch.from_numpy(np.ascontiguousarray(immediate, dtype=np.float32)))
        return {"deep": out["deep"].numpy(), "shallow": out["shallow"].numpy(),
                "probabilities": torch.softmax(out["logits"], -1).numpy()}

    def served_state_dict(self) -> dict:
        """The weights the graph uses (MusiCNN's own tagging layers are not served)."""
        unused = ("musicnn.pool_bn.", "musicnn.dense.", "musicnn.dense_bn.", "musicnn.out.")
        return {k: v for k, v in self.state_dict().items() if not k.startswith(unused)}

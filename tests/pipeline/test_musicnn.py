"""MusiCNN port: the original network's outputs, its front end, patching, weights errors, ONNX export."""
import io

import numpy as np
import pytest
import torch

from pipeline.networks.musicnn_net import (
    ONNX_OUTPUTS,
    MusiCNN,
    MusiCNNConfig,
    MusiCNNWeightsError,
    export_onnx,
    load_musicnn,
    musicnn_features,
    musicnn_mel,
    musicnn_patches,
    slice_patches,
)
from tests.conftest import REPO, SHARED_GTZAN

SHARED_MUSICNN = REPO.parent / "shared" / "weights" / "musicnn"
REFERENCE_OUTPUTS = ("logits", "penultimate", "mean_pool", "max_pool")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def musicnn_files():
    """The shared MusiCNN weights and the original TensorFlow graph's reference outputs."""
    weights, reference = SHARED_MUSICNN / "msd_musicnn.safetensors", SHARED_MUSICNN / "reference_outputs.npz"
    if not (weights.is_file() and reference.is_file()):
        pytest.skip(f"shared MusiCNN weights not found in {SHARED_MUSICNN}")
    return load_musicnn(weights), dict(np.load(reference))


@pytest.fixture(scope="module")
def random_musicnn():
    """MusiCNN with seeded random weights and batch-norm statistics: needs no shared files."""
    torch.manual_seed(0)
    model = MusiCNN()
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    return model.eval()


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest absolute difference relative to the largest reference magnitude."""
    return float(np.abs(got - want).max() / np.abs(want).max())


def test_port_reproduces_the_original_networks_outputs(musicnn_files):
    model, reference = musicnn_files
    for clip in range(3):
        with torch.no_grad():
            out = model(torch.from_numpy(reference[f"clip{clip}_input"]))
        for name in REFERENCE_OUTPUTS:
            want = reference[f"clip{clip}_{name}"]
            assert out[name].shape == want.shape
            # measured: at most 2.5e-6 (max_pool of clip 1)
            assert relative_error(out[name].numpy(), want) <= 1e-4, (clip, name)
    # the interleaved back-end input is [max_0, mean_0, max_1, ...]
    assert torch.equal(out["pooled"][:, 0::2], out["max_pool"])
    assert torch.equal(out["pooled"][:, 1::2], out["mean_pool"])


def test_front_end_reproduces_the_reference_input(musicnn_files):
    """The reference input is librosa's soxr_hq resampling of the 22 050 Hz file to 16 kHz, cut into
    non-overlapping patches (frames 0, 187, 374); the pipeline's 22 050 Hz decode + soxr HQ matches it."""
    from pipeline.audio import load_audio, resample

    paths = sorted(SHARED_GTZAN.glob("metal/metal.00000.*"))
    if not paths:
        pytest.skip(f"shared GTZAN clip metal.00000 not found under {SHARED_GTZAN}")
    want = musicnn_files[1]["clip0_input"]
    y = load_audio(paths[0], sr=22050)
    mel = musicnn_mel(resample(y, 22050, 16000))
    assert mel.dtype == np.float32 and mel.shape == (1876, 96)
    # measured: max abs difference 4.8e-7 (float32 rounding) on values up to 5.5
    np.testing.assert_allclose(mel[: 3 * 187].reshape(want.shape), want, rtol=0, atol=1e-5)
    patches, start_s = musicnn_patches(y, 22050)  # back-to-back patches, as the original extractor's
    np.testing.assert_allclose(patches[:3], want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(start_s[:3], [0.0, 187 * 256 / 16000, 374 * 256 / 16000])


def test_a_clip_shorter_than_a_patch_gives_one_zero_padded_patch():
    cfg = MusiCNNConfig()
    y = np.random.default_rng(0).uniform(-0.5, 0.5, 22050).astype(np.float32)  # 1 s at 22 050 Hz
    patches, start_s = musicnn_patches(y, 22050, cfg)
    frames = 1 + 16000 // cfg.hop_length  # librosa's centred frames of 1 s at 16 kHz
    assert patches.shape == (1, cfg.patch_frames, cfg.n_mels) and start_s.tolist() == [0.0]
    assert np.all(patches[0, :frames] > 0) and not np.any(patches[0, frames:])


def test_a_clip_of_exactly_one_patch_is_not_padded():
    cfg = MusiCNNConfig()
    y = np.random.default_rng(1).uniform(-0.5, 0.5, (cfg.patch_frames - 1) * cfg.hop_length).astype(np.float32)
    patches, start_s = musicnn_patches(y, cfg.sample_rate, cfg)
    assert patches.shape == (1, cfg.patch_frames, cfg.n_mels) and start_s.tolist() == [0.0]
    np.testing.assert_array_equal(patches[0], musicnn_mel(y, cfg))


def test_patches_overlap_by_the_hop_and_the_last_one_reaches_the_end():
    cfg = MusiCNNConfig(patch_hop_frames=93)
    mel = np.arange(440 * 96, dtype=np.float32).reshape(440, 96)
    patches, starts = slice_patches(mel, cfg)
    assert starts.tolist() == [0, 93, 186, 440 - 187]  # 186 + 187 would leave 67 frames (> hop / 2) out
    assert slice_patches(mel[:400], cfg)[1].tolist() == [0, 93, 186]  # 27 frames left: not worth a patch
    for patch, start in zip(patches, starts):
        np.testing.assert_array_equal(patch, mel[start : start + 187])


def test_config_round_trips_through_a_dict():
    cfg = MusiCNNConfig(patch_hop_frames=93)
    assert MusiCNNConfig.from_dict(cfg.to_dict()) == cfg
    assert MusiCNNConfig().to_dict()["sample_rate"] == 16000


def test_weights_errors_are_one_line(tmp_path, random_musicnn):
    from safetensors.numpy import save_file

    text = tmp_path / "notes.safetensors"
    text.write_text("not a tensor file\nsecond line\n")
    wrong_name, wrong_shape = tmp_path / "other.safetensors", tmp_path / "small.safetensors"
    save_file({"encoder/weight": np.zeros(3, np.float32)}, str(wrong_name))
    save_file({"conv2d/bias": np.zeros(3, np.float32)}, str(wrong_shape))
    incomplete = tmp_path / "incomplete.safetensors"
    save_file({"dense_1/bias": np.zeros(50, np.float32)}, str(incomplete))
    for path, words in ((tmp_path / "absent.safetensors", "not found"), (text, "not a safetensors file"),
                        (wrong_name, "unexpected variable"), (wrong_shape, "shape"), (incomplete, "missing")):
        with pytest.raises(MusiCNNWeightsError, match=words) as caught:
            load_musicnn(path)
        assert "\n" not in str(caught.value) and isinstance(caught.value, ValueError)


def test_onnx_export_matches_pytorch_with_a_dynamic_batch(random_musicnn):
    import onnxruntime as ort

    buffer = io.BytesIO()
    export_onnx(random_musicnn, buffer)
    assert not any(m.training for m in random_musicnn.modules())  # export must not leave it training
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(ONNX_OUTPUTS)
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        patches = rng.uniform(0, 5, (batch, 187, 96)).astype(np.float32)
        with torch.no_grad():
            want = random_musicnn(torch.from_numpy(patches))
        for name, got in zip(ONNX_OUTPUTS, session.run(None, {"patches": patches})):
            assert got.shape == tuple(want[name].shape)
            # absolute 1e-4, scaled up for outputs beyond 1 (max_pool reaches ~90 with the real weights,
            # where float32 summation order alone gives ~1.5e-4)
            scale = max(1.0, float(want[name].abs().max()))
            assert np.abs(got - want[name].numpy()).max() <= 1e-4 * scale, (batch, name)


def test_features_of_a_corpus_are_per_patch_with_their_track(random_musicnn):
    rng = np.random.default_rng(2)
    audios = [rng.uniform(-0.3, 0.3, int(s * 22050)).astype(np.float32) for s in (2.0, 6.0)]
    overlapping = MusiCNNConfig(patch_hop_frames=93)
    feats = musicnn_features(random_musicnn, audios, 22050, overlapping, progress=False, batch_size=2)
    n = len(feats["track"])
    assert feats["track"].tolist() == [0] + [1] * (n - 1) and n == 1 + 3  # 6 s: starts 0, 1.5, 3 s
    assert feats["mean_pool"].shape == feats["max_pool"].shape == (n, 753)
    assert feats["penultimate"].shape == (n, 200) and feats["logits"].shape == (n, 50)
    np.testing.assert_allclose(feats["start_s"], [0, 0, 93 * 0.016, 186 * 0.016])
    single = musicnn_features(random_musicnn, audios[1:], 22050, overlapping, progress=False)
    np.testing.assert_allclose(single["penultimate"], feats["penultimate"][1:], atol=1e-5)

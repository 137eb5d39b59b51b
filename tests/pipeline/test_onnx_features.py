"""The build's frozen features in onnxruntime equal the torch module's, at any batch size and input width."""
import numpy as np
import torch

from pipeline.embed import backbone_features, extract_features
from pipeline.networks.mobilenet_v2_net import Backbone
from pipeline.onnx_features import OnnxFeatures
from pipeline.spectrogram import SpectrogramConfig
from tests.synth import genre_clip

SR = 22050


def _backbone() -> Backbone:
    torch.manual_seed(0)
    return Backbone(None, pool_blocks=(14, 18)).eval()  # random weights: the graph, not ImageNet, is under test


def test_the_graph_reproduces_the_module_at_any_batch_and_width():
    net = _backbone()
    rng = np.random.default_rng(0)
    run = OnnxFeatures(net, rng.random((2, 128, 431), dtype=np.float32), time_axis=2, threads=1, batch_size=3)
    for n, width in ((1, 431), (7, 431), (2, 173)):  # batches split into runs of 3; a shorter window
        images = rng.random((n, 128, width), dtype=np.float32)
        want = backbone_features(net, images)
        got = run(images)
        assert got.shape == want.shape == (n, net.dim) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * max(1.0, float(np.abs(want).max())))


class _TimeMean(torch.nn.Module):
    def forward(self, x):
        return x.mean(2)


def test_exporting_leaves_the_module_in_its_mode_and_exports_eval():
    torch.manual_seed(0)
    net = torch.nn.Sequential(_TimeMean(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3)).train()
    x = np.random.default_rng(1).random((4, 8, 20), dtype=np.float32)
    run = OnnxFeatures(net, x, time_axis=2, threads=1)
    assert net.training  # restored
    with torch.no_grad():
        want = net.eval()(torch.from_numpy(x)).numpy()  # the graph has no dropout: eval mode was exported
    np.testing.assert_allclose(run(x), want, rtol=0, atol=1e-5)


def test_extract_features_gives_the_same_windows_through_either_runtime():
    net, cfg = _backbone(), SpectrogramConfig()
    audios = [genre_clip(g, 12.0, SR, np.random.default_rng(g)) for g in (0, 1)]
    run = OnnxFeatures(net, np.zeros((2, cfg.n_mels, 431), dtype=np.float32), time_axis=2, threads=1)
    a = extract_features(net, audios, cfg, seed=3, augment_training=True, progress=False)
    b = extract_features(run, audios, cfg, seed=3, augment_training=True, progress=False)
    assert a.keys() == b.keys()
    for k in ("track", "start_s", "augmentation", "none"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for k in ("clean", "augmented"):  # the same augmentation draws, the same images, another runtime
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-4 * max(1.0, float(np.abs(a[k]).max())), err_msg=k)

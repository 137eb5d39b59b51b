import pickle

import pytest
import torch
import torchvision
from torch import nn

from pipeline.networks.mobilenet_v2_net import BACKBONE_DIM, Backbone, GenreNet, WeightsError, load_imagenet_backbone

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bn_layers(module):
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.fixture(scope="module")
def images():
    torch.manual_seed(0)
    return torch.rand(2, 128, 431)


def test_backbone_stays_in_eval_mode_after_train():
    b = Backbone()
    assert not b.training
    b.train()
    assert not b.training and not any(m.training for m in b.modules()), "backbone left eval mode"
    b.train(True)
    assert not any(bn.training for bn in _bn_layers(b))


def test_genrenet_train_only_trains_the_head():
    net = GenreNet(4)
    net.train()
    assert net.training and net.head.training
    assert not any(m.training for m in net.backbone.modules()), "GenreNet.train() put backbone layers in train mode"
    assert len(_bn_layers(net.backbone)) > 30


def test_backbone_is_frozen():
    net = GenreNet(3)
    assert not any(p.requires_grad for p in net.backbone.parameters())
    assert all(p.requires_grad for p in net.head.parameters())
    # gradients reach the head but never the backbone
    out = net.head(net.backbone(torch.rand(1, 128, 100)))
    out["logits"].sum().backward()
    assert all(p.grad is None for p in net.backbone.parameters())
    assert net.head.out.weight.grad is not None


def test_embed_returns_every_tap_with_its_size(images):
    net = GenreNet(7)
    net.train()  # embed must switch to eval itself (dropout off)
    out = net.embed(images, batch_size=1)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "immediate": (2, BACKBONE_DIM), "deep": (2, 256), "shallow": (2, 64), "logits": (2, 7)}
    assert (out["deep"] >= 0).all() and (out["shallow"] >= 0).all(), "deep/shallow are post-ReLU taps"
    assert not net.training
    again = net.embed(images, batch_size=2)
    for k in out:
        torch.testing.assert_close(out[k], again[k], atol=1e-5, rtol=1e-4)


def test_embed_custom_head_sizes():
    net = GenreNet(3, deep=32, shallow=8)
    out = net.embed(torch.rand(1, 128, 50))
    assert out["deep"].shape == (1, 32) and out["shallow"].shape == (1, 8) and out["logits"].shape == (1, 3)


# --- weights ---------------------------------------------------------------------------------


def test_load_random_state_dict(random_weights):
    b = Backbone()
    assert load_imagenet_backbone(b, random_weights) == str(random_weights)
    expected = torch.load(random_weights, weights_only=True)["features.0.0.weight"]
    assert torch.equal(b.features[0][0].weight, expected)


def test_load_shared_float_weights(shared_weights, images):
    b = Backbone()
    before = b.features[0][0].weight.clone()
    assert load_imagenet_backbone(b, shared_weights) == str(shared_weights)
    assert not torch.equal(before, b.features[0][0].weight)
    f = b(images)
    assert f.shape == (2, BACKBONE_DIM) and torch.isfinite(f).all()
    assert f.abs().max() > 1e-3, "ImageNet features should not be vanishingly small"


def test_wrong_weights_file_raises(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(WeightsError, match="cannot read weights notes.pth"):
        load_imagenet_backbone(Backbone(), text)

    resnet_like = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 512)}, resnet_like)
    with pytest.raises(WeightsError, match="other.pth is not a torchvision MobileNetV2 state dict"):
        load_imagenet_backbone(Backbone(), resnet_like)

    partial = tmp_path / "partial.pth"
    sd = torchvision.models.mobilenet_v2().state_dict()
    torch.save({k: v for k, v in sd.items() if not k.startswith("features.18")}, partial)
    with pytest.raises(WeightsError, match="not a torchvision MobileNetV2"):
        load_imagenet_backbone(Backbone(), partial)

    with pytest.raises(WeightsError, match="weights file not found"):
        load_imagenet_backbone(Backbone(), tmp_path / "missing.pth")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_quantized_weights_are_refused(shared_weights):
    qnnpack = shared_weights.with_name("mobilenet_v2_imagenet_qnnpack.pth")
    if not qnnpack.is_file():
        pytest.skip("quantized weights not shared")
    with pytest.raises(WeightsError, match="not a torchvision MobileNetV2"):
        load_imagenet_backbone(Backbone(), qnnpack)


class _RunsCodeWhenUnpickled:
    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.sentinel,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_weights_with_pickled_code_are_refused_not_run(tmp_path):
    evil, sentinel = tmp_path / "evil.pth", tmp_path / "code_ran"
    with open(evil, "wb") as f:
        pickle.dump({"features.0.0.weight": _RunsCodeWhenUnpickled(sentinel)}, f)
    with pytest.raises(WeightsError, match="cannot read weights evil.pth"):
        load_imagenet_backbone(Backbone(), evil)
    assert not sentinel.exists(), "unpickling ran code from a weights file"


def test_no_weights_uses_the_shipped_file_and_never_the_cache(offline_torch_home):
    from pipeline.networks.weights import SHIPPED, read_state_dict

    b = Backbone()
    assert load_imagenet_backbone(b, None) == str(SHIPPED["mobilenet_v2"].path)
    expected = read_state_dict(SHIPPED["mobilenet_v2"].path)["features.18.0.weight"]
    assert b.features[18][0].weight.dtype == torch.float32 and torch.equal(b.features[18][0].weight, expected)
    assert not any(offline_torch_home.rglob("*")), "the shipped weights must not touch the torch cache"


def test_torchvision_weights_come_from_torchvisions_cache(offline_torch_home, random_weights):
    ckpt = offline_torch_home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "mobilenet_v2-b0353104.pth").symlink_to(random_weights)
    b = Backbone()
    assert load_imagenet_backbone(b, "torchvision") == str(ckpt / "mobilenet_v2-b0353104.pth")
    expected = torch.load(random_weights, weights_only=True)["features.18.0.weight"]
    assert torch.equal(b.features[18][0].weight, expected)


# --- the shared weights have BN folded into identities ------------------------------------


def test_folded_bn_never_uses_batch_statistics(shared_weights, images):
    net = GenreNet(10)
    load_imagenet_backbone(net.backbone, shared_weights)
    b = net.backbone
    running = [bn.running_mean.clone() for bn in _bn_layers(b)]
    with torch.no_grad():
        reference = b(images)
        net.train()
        after_net_train = b(images)
        b.train()
        after_backbone_train = b(images)
    assert torch.equal(reference, after_net_train), "GenreNet.train() changed the backbone's output"
    assert torch.equal(reference, after_backbone_train), "Backbone.train() changed its output"
    assert all(torch.equal(r, bn.running_mean) for r, bn in zip(running, _bn_layers(b))), "BN running stats moved"

    # The check above can fail: with batch statistics the folded BNs give a different output.
    nn.Module.train(b.features, True)
    with torch.no_grad():
        batch_stats = b(images)
    assert not torch.allclose(reference, batch_stats, atol=1e-3)


# --- metrics and class weighting ------------------------------------------------------


def test_balanced_accuracy_and_macro_f1_on_a_hand_made_example():
    import numpy as np

    from pipeline.train import classification_metrics, scores

    y = [0, 0, 0, 0, 1, 1, 2, 2]
    pred = [0, 0, 0, 1, 1, 0, 2, 1]
    # recalls 3/4, 1/2, 1/2; F1: class 0 P 3/4 R 3/4 -> .75, class 1 P 1/3 R 1/2 -> .4, class 2 P 1 R 1/2 -> 2/3
    s = scores(y, pred)
    assert s["accuracy"] == pytest.approx(5 / 8)
    assert s["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    assert s["macro_f1"] == pytest.approx((0.75 + 0.4 + 2 / 3) / 3)
    # a genre absent from the fold but predicted: not in balanced accuracy, an F1 of 0 in macro-F1
    s = scores([0, 0, 1, 1], [0, 2, 1, 1])
    assert s["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    probs = np.eye(4)[pred][:, :3] * 0.9 + 0.1 / 3  # rows sum to 1 over 3 classes
    m = classification_metrics(np.array(y), probs[:, :3] / probs[:, :3].sum(1, keepdims=True), ["a", "b", "c"])
    assert m["balanced_accuracy"] == pytest.approx(0.5833333) and m["macro_f1"] == pytest.approx(0.6055556)
    assert m["per_genre_accuracy"] == pytest.approx({"a": 0.75, "b": 0.5, "c": 0.5})
    assert m["per_genre_f1"] == pytest.approx({"a": 0.75, "b": 0.4, "c": 2 / 3})


def test_balanced_class_weights():
    import numpy as np

    from pipeline.train import balanced_weights

    w = balanced_weights(np.array([0] * 6 + [1] * 2 + [2] * 4), 4)
    assert w[3] == 0 and w[:3] == pytest.approx([12 / 18, 12 / 6, 12 / 12])
    assert (w[[0] * 6 + [1] * 2 + [2] * 4]).sum() == pytest.approx(12)  # the loss keeps its scale


def test_class_weighted_head_recalls_the_small_genre_better():
    import numpy as np

    from pipeline.train import SegmentFeatures, TrainConfig, fit_head, track_probabilities

    rng = np.random.default_rng(0)
    # train: a big genre (60 tracks) and a small one (6) that overlap; val 10 + 3; test 30 + 30
    y = np.array([0] * 60 + [1] * 6 + [0] * 10 + [1] * 3 + [0] * 30 + [1] * 30)
    X = (rng.normal(size=(len(y), 8)) + 0.8 * y[:, None]).astype(np.float32)
    seg = SegmentFeatures(X, np.arange(len(y)))
    train, val, test = np.arange(66), np.arange(66, 79), np.arange(79, len(y))
    recall = {}
    for cw in ("none", "balanced"):
        cfg = TrainConfig(deep=16, shallow=8, max_epochs=60, patience=60, class_weight=cw, refit=False)
        head, _ = fit_head(seg, y, train, val, 2, cfg, seed=0)
        p = track_probabilities(head, X[test], test, test).argmax(1)
        recall[cw] = float(np.mean(p[y[test] == 1] == 1))
    assert recall["balanced"] > recall["none"] + 0.2, recall

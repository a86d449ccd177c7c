"""Bad input at the public edge (attribution.attribute, ImageClassifier.predict) is a clear ValueError."""
import pytest
import torch

from xaikit import attribution as A
from xaikit import data, models


@pytest.fixture(scope="module")
def rgb():
    return models.cifar_cnn(data.CIFAR10_CLASSES).eval()


@pytest.fixture(scope="module")
def grey():
    return models.small_cnn([str(i) for i in range(10)]).eval()


def test_float_image_in_0_255_says_divide_by_255(rgb):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255
    x[0, 0, 0, 0] = 255.0
    with pytest.raises(ValueError, match=r"images must be in \[0, 1\]; got max 255.0 — divide by 255"):
        A.attribute(rgb, x, 0, "gradient")
    with pytest.raises(ValueError, match="divide by 255"):
        rgb.predict(x)


def test_normalised_image_is_refused(rgb):
    x = (torch.rand(1, 3, 32, 32) - 0.5) / 0.25
    with pytest.raises(ValueError, match=r"got min .* before normalisation"):
        A.attribute(rgb, x.clamp(max=1), 0, "gradient")


def test_one_channel_image_into_three_channel_model(rgb, grey):
    with pytest.raises(ValueError, match=r"takes 3-channel images; got 1 channel.*x.expand\(-1, 3, -1, -1\)"):
        A.attribute(rgb, torch.rand(2, 1, 32, 32), 0, "integrated_gradients", n_steps=2)
    with pytest.raises(ValueError, match="takes 3-channel images; got 1"):
        rgb.predict(torch.rand(2, 1, 32, 32))  # Normalize would otherwise broadcast it to 3 channels silently
    with pytest.raises(ValueError, match="takes 1-channel images; got 3"):
        A.attribute(grey, torch.rand(2, 3, 28, 28), 0, "gradient")


def test_target_out_of_range(rgb):
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match=r"target index 10 is out of range: the model has 10 outputs \(0..9\)"):
        A.attribute(rgb, x, 10, "gradient")
    with pytest.raises(ValueError, match="target index -1 is out of range"):
        A.attribute(rgb, x, [0, -1], "saliency")
    with pytest.raises(TypeError, match="integer class indices"):
        A.attribute(rgb, x, 1.5, "gradient")


def test_target_range_of_a_plain_module():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    with pytest.raises(ValueError, match="model has 4 outputs"):  # no Linear layer: asked with one forward
        A.attribute(net, torch.rand(1, 3, 8, 8), 4, "gradient")


def test_empty_batch(rgb):
    with pytest.raises(ValueError, match="empty batch"):
        A.attribute(rgb, torch.rand(0, 3, 32, 32), 0, "gradient")
    with pytest.raises(ValueError, match="empty batch"):
        rgb.predict(torch.rand(0, 3, 32, 32))


def test_valid_input_still_works(rgb, grey):
    assert A.attribute(rgb, torch.rand(2, 3, 32, 32), [0, 9], "gradient").shape == (2, 3, 32, 32)
    assert A.attribute(grey, torch.rand(1, 1, 28, 28), None, "guided_backprop").shape == (1, 1, 28, 28)
    assert rgb.predict(torch.rand(3, 3, 32, 32)).shape == (3, 10)


def test_known_captum_notices_do_not_reach_the_reader(grey):
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        A.attribute(grey, torch.rand(1, 1, 28, 28), 0, "guided_backprop")
        A.attribute(grey, torch.rand(1, 1, 28, 28), 0, "deeplift_shap")
    assert not [w for w in caught if "hooks" in str(w.message)], [str(w.message) for w in caught]

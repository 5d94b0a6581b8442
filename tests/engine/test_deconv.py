"""Zeiler & Fergus deconvnet (engine/deconv.py): a hand-computed case, the autograd version
against the three steps written out, energy inside the receptive field, and guided backprop
for networks without max pooling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.deconv import DECONVNET, GUIDED, deconvnet_steps, project_unit
from engine.errors import ModelError


def _tiny():
    conv = nn.Conv2d(1, 1, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[-1.0, 0.0], [0.0, 1.0]]]]))
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(3))


def test_hand_computed_case():
    # conv output y[i, j] = x[i+1, j+1] - x[i, j]; with x[2, 2] = 30 the strongest is y[1, 1] = 30 - 5 = 25,
    # so the pooled unit is 25, its switch is (1, 1), and the projection is the kernel times 25 at rows and
    # columns 1-2 of the input.
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 2, 2] = 30.0
    result = project_unit(_tiny(), x, "2", 0)
    expected = np.zeros((4, 4), np.float32)
    expected[1, 1], expected[2, 2] = -25.0, 25.0
    assert result.method == DECONVNET and result.activation == 25.0 and result.position == (0, 0)
    np.testing.assert_allclose(result.raw[:, :, 0], expected)
    steps = deconvnet_steps(list(_tiny()), x, 0)
    assert [name for name, _ in steps] == ["unit", "unpool", "rectify", "filter"]
    np.testing.assert_allclose(steps[1][1][0, 0].numpy(), np.pad([[25.0]], ((1, 1), (1, 1))))  # the switch
    np.testing.assert_allclose(steps[-1][1][0, 0].numpy(), expected)


def _stack(seed: int):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 5), nn.ReLU(), nn.MaxPool2d(2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_autograd_deconvnet_equals_the_steps_by_hand(seed):
    model = _stack(seed)
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    for channel in range(6):
        by_hand = deconvnet_steps(list(model), x, channel)[-1][1][0].permute(1, 2, 0).numpy()
        result = project_unit(model, x, "5", channel)
        if result.activation <= 0:
            continue  # a silent unit projects to nothing either way
        np.testing.assert_allclose(result.raw, by_hand, rtol=1e-4, atol=1e-5)


def _receptive_box(position, layers, size=28):
    """The input rows/columns a unit of the stack's output sees (standard recurrence)."""
    rf, jump, start = 1, 1, 0.0
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            p = layer.padding if isinstance(layer.padding, int) else layer.padding[0]
            start += ((k - 1) / 2 - p) * jump
            rf += (k - 1) * jump
            jump *= s
    y, x = position
    centre = (start + y * jump, start + x * jump)
    return [(max(0, int(c - (rf - 1) / 2)), min(size, int(c + (rf - 1) / 2) + 1)) for c in centre]


def test_projection_energy_lies_inside_the_receptive_field():
    model = _stack(3)
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    tried = 0
    for channel in range(6):
        for position in [(0, 0), (2, 3), (4, 4), (9, 9), (5, 1), (7, 6)]:
            result = project_unit(model, x, "4", channel, position)
            if result.activation <= 0:
                continue
            (top, bottom), (left, right) = _receptive_box(position, list(model)[:5])
            assert (bottom - top) * (right - left) <= 14 * 14  # the box is a small part of the 28x28 image
            energy = result.raw ** 2
            inside = energy[top:bottom, left:right].sum()
            assert inside == pytest.approx(energy.sum()) and energy.sum() > 0
            tried += 1
    assert tried >= 6


def test_without_max_pooling_guided_backprop_is_used_and_said():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.Conv2d(8, 8, 3, stride=2), nn.ReLU())
    result = project_unit(model, torch.rand(1, 3, 16, 16), "3", 2)
    assert result.method == GUIDED and "no max pooling" in result.note
    assert result.display.shape == (16, 16, 3) and result.display.dtype == np.uint8
    # the same gradient through the saliency panel's own guided-backprop copy of the model
    from engine.attribution import guided_model

    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    result = project_unit(model, x, "3", 2, (3, 3))
    outputs = []
    guided = guided_model(model)
    handle = guided[3].register_forward_hook(lambda _m, _i, out: outputs.append(out))
    guided(x)
    handle.remove()
    outputs[0][0, 2, 3, 3].backward()
    expected = x.grad[0].permute(1, 2, 0).numpy() * max(result.activation, 0.0)
    assert result.activation > 0 and np.abs(expected).sum() > 0
    np.testing.assert_allclose(result.raw, expected, rtol=1e-5, atol=1e-7)


def test_bad_requests_are_refused_clearly():
    model = _tiny()
    x = torch.rand(1, 1, 4, 4)
    with pytest.raises(ModelError, match="no layer 'nope'"):
        project_unit(model, x, "nope", 0)
    with pytest.raises(ModelError, match="no channel 3"):
        project_unit(model, x, "0", 3)
    with pytest.raises(ModelError, match="outside"):
        project_unit(model, x, "0", 0, (9, 9))
    with pytest.raises(ModelError, match="one image at a time"):
        project_unit(model, torch.rand(2, 1, 4, 4), "0", 0)


def test_layer_hooks_ignore_other_threads_forward_passes():
    """Shared models: a job's hook must not see another thread's outputs (the Top patches job
    and a second channel's job ran one network together and crossed their graphs)."""
    import threading

    from engine.layers import own_thread_forward_hook

    model = _tiny()
    seen = []
    handle = own_thread_forward_hook(model[0], lambda _m, _i, out: seen.append(threading.get_ident()))
    other = threading.Thread(target=lambda: model(torch.rand(1, 1, 4, 4)))
    other.start()
    other.join()
    model(torch.rand(1, 1, 4, 4))
    handle.remove()
    assert seen == [threading.get_ident()]

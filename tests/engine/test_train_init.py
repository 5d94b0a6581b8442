"""Initialization schemes: the measured weight std of every layer matches the
scheme's formula, constants are constant, biases zero, default untouched."""
import math

import pytest
import torch
from torch import nn

from engine.initialization import apply_init, fan_in, init_std, initializable_layers


def deep_net():
    # Wide enough that a layer's sample std is within a few percent of the target.
    return nn.Sequential(nn.Conv2d(3, 64, 5), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.Flatten(),
                         nn.Linear(400, 500), nn.Tanh(), nn.Linear(500, 500), nn.BatchNorm1d(500))


@pytest.mark.parametrize("scheme,formula", [
    ("small", lambda fin: 0.01),
    ("xavier", lambda fin: 1 / math.sqrt(fin)),
    ("he", lambda fin: math.sqrt(2 / fin)),
])
def test_weight_std_per_layer_matches_the_scheme(scheme, formula):
    torch.manual_seed(0)
    model = apply_init(deep_net(), scheme)
    layers = initializable_layers(model)
    assert [fan_in(m) for _, m in layers] == [75, 576, 400, 500]
    for name, module in layers:
        target = formula(fan_in(module))
        assert init_std(module, scheme) == pytest.approx(target)
        assert module.weight.std().item() == pytest.approx(target, rel=0.05), name
        assert abs(module.weight.mean().item()) < 0.05 * target + 1e-4
        assert torch.count_nonzero(module.bias) == 0


def test_constant_init_sets_every_weight_to_the_value():
    model = apply_init(deep_net(), "constant", constant=0.02)
    for _, module in initializable_layers(model):
        assert torch.all(module.weight == 0.02)
        assert torch.all(module.bias == 0)


def test_default_leaves_pytorch_init_and_batchnorm_is_untouched():
    torch.manual_seed(0)
    model = deep_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_init(model, "default")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    apply_init(model, "he")
    assert torch.all(model[7].weight == 1) and torch.all(model[7].bias == 0)


def test_generator_makes_draws_repeatable_and_unknown_scheme_fails():
    a = apply_init(deep_net(), "xavier", generator=torch.Generator().manual_seed(3))
    b = apply_init(deep_net(), "xavier", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0].weight, b[0].weight)
    with pytest.raises(ValueError, match="Unknown initialization"):
        apply_init(deep_net(), "orthogonal")

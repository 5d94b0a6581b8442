"""L1 / L2 / elastic-net penalties on known tensors, and which parameters they touch."""
import pytest
import torch
from torch import nn

from engine.regularize import (elastic_net_penalty, explicit_penalty, l1_penalty, l2_penalty,
                               regularized_weights, split_decay_groups)


def known_model():
    model = nn.Sequential(nn.Conv2d(1, 1, 2), nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]]]))
        model[0].bias.fill_(100.0)
        model[3].weight.copy_(torch.tensor([[0.5], [-1.0]]))
        model[3].bias.fill_(-50.0)
        model[1].weight.fill_(7.0)
    return model


def test_only_conv_and_linear_weights_are_regularized():
    model = known_model()
    weights = regularized_weights(model)
    assert [tuple(w.shape) for w in weights] == [(1, 1, 2, 2), (2, 1)]
    decay, rest = split_decay_groups(model)
    assert {id(p) for p in decay} | {id(p) for p in rest} == {id(p) for p in model.parameters()}
    assert id(model[0].bias) in {id(p) for p in rest} and id(model[1].weight) in {id(p) for p in rest}


def test_penalty_values_on_a_known_tensor():
    weights = regularized_weights(known_model())
    # |w|: 1 + 2 + 3 + 0 + 0.5 + 1 = 7.5 ; w^2: 1 + 4 + 9 + 0 + 0.25 + 1 = 15.25
    assert l1_penalty(weights).item() == pytest.approx(7.5)
    assert l2_penalty(weights).item() == pytest.approx(15.25)
    assert elastic_net_penalty(weights, beta=0.5).item() == pytest.approx(0.5 * 15.25 + 7.5)
    assert explicit_penalty(weights, l1=0.1, elastic_net=0.0, elastic_beta=0.5).item() == pytest.approx(0.75)
    assert explicit_penalty(weights, l1=0.0, elastic_net=0.0, elastic_beta=0.5) is None


def test_l1_gradient_is_lambda_times_sign():
    model = known_model()
    explicit_penalty(regularized_weights(model), l1=0.1, elastic_net=0.0, elastic_beta=0.5).backward()
    expected = 0.1 * torch.sign(model[0].weight.detach())
    assert torch.allclose(model[0].weight.grad, expected)
    assert model[0].bias.grad is None  # biases untouched


def test_weight_decay_shrinks_weights_but_not_biases_or_batchnorm():
    from engine.train import TrainSettings, _build_optimizer

    model = known_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = _build_optimizer(model, TrainSettings(lr=1.0, momentum=0.0, weight_decay=0.1))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    after = model.state_dict()
    assert torch.allclose(after["0.weight"], before["0.weight"] * 0.9)  # w -= lr * lambda * w
    assert torch.allclose(after["3.weight"], before["3.weight"] * 0.9)
    assert torch.equal(after["0.bias"], before["0.bias"])
    assert torch.equal(after["1.weight"], before["1.weight"])

"""Regularization penalties, written out by hand so the formulas are visible.

Only weights are regularized: the `weight` of every Conv2d and Linear layer.
Biases and BatchNorm scale/shift are left alone (penalizing them only hurts).

- L2, the lecture's form (TrainSettings.l2 = lambda): R = lambda * sum w^2, whose
  gradient is 2 * lambda * w. The trainer applies it through the optimizer's
  coupled weight decay on the weight parameter group only: weight_decay =
  2 * lambda (TrainSettings.equivalent_weight_decay()), i.e. 2 * lambda * w is
  added to the gradient (for Adam too, which is Adam + L2, not AdamW). The
  older field TrainSettings.weight_decay = wd is that decay directly
  (R = wd/2 * sum w^2); the two add up.
- L1 (strength lambda1): R = lambda1 * sum |w|, added to the loss each step.
- Elastic net (strength lambda, mix beta), the lecture's form:
  R = lambda * sum (beta * w^2 + |w|), added to the loss each step.
"""
from __future__ import annotations

import torch
from torch import nn


def regularized_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight tensors that L1 / L2 / elastic net act on (Conv2d and Linear)."""
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def split_decay_groups(model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(weights that get weight decay, every other parameter)."""
    decay = regularized_weights(model)
    ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return decay, rest


def l1_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """sum |w| over all given tensors."""
    return sum(w.abs().sum() for w in weights)


def l2_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """sum w^2 over all given tensors (the lecture's L2 is lambda times this; weight decay wd is wd/2 times it)."""
    return sum(w.pow(2).sum() for w in weights)


def elastic_net_penalty(weights: list[torch.Tensor], beta: float) -> torch.Tensor:
    """sum (beta * w^2 + |w|): L1 plus beta times L2 (the lecture's elastic net)."""
    return sum((beta * w.pow(2) + w.abs()).sum() for w in weights)


def explicit_penalty(weights: list[torch.Tensor], l1: float, elastic_net: float, elastic_beta: float):
    """The hand-written penalty the trainer adds to the loss, or None when both are off."""
    terms = []
    if l1 > 0:
        terms.append(l1 * l1_penalty(weights))
    if elastic_net > 0:
        terms.append(elastic_net * elastic_net_penalty(weights, elastic_beta))
    if not terms:
        return None
    return sum(terms)


def small_weight_share(model: nn.Module, threshold: float = 1e-3) -> float:
    """Share of the regularized weights with |w| < threshold (what L1 drives towards 0)."""
    with torch.no_grad():
        flat = torch.cat([w.detach().flatten().float() for w in regularized_weights(model)])
    return float((flat.abs() < threshold).float().mean()) if flat.numel() else float("nan")


def penalty_to_loss_ratio(model: nn.Module, x: torch.Tensor, y: torch.Tensor, l1: float = 0.0, l2: float = 0.0,
                          elastic_net: float = 0.0, elastic_beta: float = 0.5) -> float:
    """The regularizer's size next to the data loss on (x, y) for this model as it is
    (e.g. freshly initialized): how strong a lambda really is. l2 is the lecture's
    lambda * sum W^2."""
    weights = regularized_weights(model)
    from .layers import eval_mode

    with eval_mode(model), torch.no_grad():
        data_loss = float(nn.functional.cross_entropy(model(x), y))
        penalty = explicit_penalty(weights, l1, elastic_net, elastic_beta)
        total = (0.0 if penalty is None else float(penalty)) + (float(l2 * l2_penalty(weights)) if l2 > 0 else 0.0)
    return total / data_loss if data_loss > 0 else float("inf")

"""Two small helpers every look inside a model needs: its named layers, and eval mode
for a while (dropout off, batch norm on its running statistics) with the mode restored."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


def named_layers(model: nn.Module, fallback: str = "error") -> list[tuple[str, nn.Module]]:
    """(name, module) of the model's user-facing layers: the children of a ConvNet's
    `features` or of a plain nn.Sequential. Any other model: `fallback` "modules" gives
    every named module, "leaves" every leaf module, "error" raises ModelError."""
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential):
        return list(features.named_children())
    if isinstance(model, nn.Sequential):
        return list(model.named_children())
    if fallback == "modules":
        return [(name, module) for name, module in model.named_modules() if name]
    if fallback == "leaves":
        return [(name, module) for name, module in model.named_modules() if name and not list(module.children())]
    from .errors import ModelError

    raise ModelError("This model has no named layer sequence to look inside.")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """`with eval_mode(model):` the model in eval mode inside, its own mode again after
    (also when the body raises or a job is closed mid-way)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)

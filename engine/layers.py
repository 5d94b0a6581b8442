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


def feature_map_layers(net: nn.Module, input_size: int = 224, channels: int = 3) -> list[tuple[str, tuple[int, ...]]]:
    """[(module path, output shape (C, H, W))] of every convolution and every block of `net`
    that outputs feature maps, in the order the forward pass reaches them: the layer picker of
    a pretrained or loaded network (e.g. 'conv_stem', 'blocks.3', 'blocks.3.0.conv_pw'). Found by
    one probe forward pass, so any torchvision or timm graph works."""
    import torch

    seen: list[tuple[str, tuple[int, ...]]] = []
    names = {id(module): name for name, module in net.named_modules() if name}

    def record(module, _inputs, output):
        name = names.get(id(module))
        if name and isinstance(output, torch.Tensor) and output.dim() == 4 and \
                (isinstance(module, nn.Conv2d) or list(module.children())):
            seen.append((name, tuple(int(v) for v in output.shape[1:])))

    handles = [own_thread_forward_hook(module, record) for module in net.modules() if id(module) in names]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, channels, input_size, input_size))
    finally:
        net.train(was_training)
        for handle in handles:
            handle.remove()
    unique: dict[str, tuple[int, ...]] = {}
    for name, shape in seen:
        unique.setdefault(name, shape)
    return list(unique.items())


def own_thread_forward_hook(module: nn.Module, hook, pre: bool = False):
    """module.register_forward_hook(hook) (with pre=True: register_forward_pre_hook), but the hook
    only runs for forward passes made by the thread that registered it. Models are shared: the
    Top patches job, a saliency map and a feature extraction may run the same network at the
    same moment in different threads, and a plain hook would hand one job another job's outputs
    (a deconvnet then backpropagated through another thread's graph: 'backward through the graph
    a second time')."""
    import threading

    owner = threading.get_ident()

    def guarded(*args):
        if threading.get_ident() == owner:
            return hook(*args)
        return None

    return module.register_forward_pre_hook(guarded) if pre else module.register_forward_hook(guarded)

"""GPU check: run on a CUDA machine (`python benchmarks/gpu_check.py`).

Trains LeNet-5 on MNIST-5k on CUDA with and without mixed precision through the
engine and compares with a bare PyTorch loop in the same run; runs saliency and
a targeted attack on CUDA; prints a table and writes it into the GPU section of
docs/BENCHMARKS.md. CI and the tests never need a GPU.
"""
from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bare_loop_throughput(spec, data, epochs: int, batch_size: int, amp: bool) -> float:
    """Images/s of a plain PyTorch training loop on CUDA (the baseline)."""
    import torch
    from torch import nn

    from engine.model import ConvNet

    torch.manual_seed(0)
    device = torch.device("cuda")
    model = ConvNet(spec).to(device)
    x, y = data.train_x.to(device), data.train_y.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), device=device)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                loss = loss_fn(model(x[idx]), y[idx])
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
    torch.cuda.synchronize()
    return epochs * len(x) / (time.perf_counter() - start)


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("No CUDA device: the GPU check needs one (CI never runs it).")
        return 2
    from benchmarks.common import write_section
    from engine.data import load_dataset
    from engine.spec import load_preset
    from engine.train import TrainSettings, fit

    data = load_dataset("mnist5k")
    spec = load_preset("lenet5")
    rows = []
    epochs, batch = 5, 64
    fit(spec, data, TrainSettings(epochs=1, device="cuda"))  # warm-up: CUDA context, kernels
    for amp in (False, True):
        result = fit(spec, data, TrainSettings(epochs=epochs, batch_size=batch, device="cuda", amp=amp, seed=0,
                                               snapshot_every_steps=0))
        ours = result.summary["images_per_sec"]
        bare = bare_loop_throughput(spec, data, epochs, batch, amp)
        rows.append((f"LeNet-5 / MNIST-5k training, batch {batch}, {'AMP fp16' if amp else 'fp32'}",
                     f"{ours:,.0f} img/s", f"{bare:,.0f} img/s", f"{ours / bare:.2f}x",
                     f"val_acc {result.summary['val_acc']:.3f}"))

    from engine.adversarial import attack
    from engine.attribution import compute_saliency
    from engine.images import load_bundled_photo
    from engine.pretrained import load_classifier

    classifier = load_classifier(device="cuda")
    x = classifier.preprocess(load_bundled_photo("coffee")).to("cuda")

    def bare_forward_backward():
        xi = x.clone().requires_grad_(True)
        classifier.model(xi)[0].max().backward()
        torch.cuda.synchronize()

    for _ in range(3):
        bare_forward_backward()
        compute_saliency(classifier, x, "vanilla")
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        bare_forward_backward()
    bare_ms = (time.perf_counter() - start) / 20 * 1000
    start = time.perf_counter()
    for _ in range(20):
        compute_saliency(classifier, x, "vanilla")
    torch.cuda.synchronize()
    sal_ms = (time.perf_counter() - start) / 20 * 1000
    rows.append(("Vanilla saliency, EfficientNet-Lite0, 224 px", f"{sal_ms:.1f} ms", f"{bare_ms:.1f} ms (fwd+bwd)",
                 f"{sal_ms / bare_ms:.2f}x", ""))
    start = time.perf_counter()
    result = attack(classifier, load_bundled_photo("coffee"), method="iterative", target="flamingo")
    rows.append(("Targeted attack coffee -> flamingo", f"{time.perf_counter() - start:.2f} s", "—", "—",
                 f"steps {result.steps}, target prob {result.target_prob:.3f}, Linf {result.linf_255:.1f}/255"))

    device = torch.cuda.get_device_name(0)
    table = [f"Run {datetime.datetime.now():%Y-%m-%d %H:%M} on {device}, torch {torch.__version__}.", "",
             "| check | ConvScope | bare PyTorch | ratio | notes |", "|---|---|---|---|---|"]
    table += [f"| {' | '.join(row)} |" for row in rows]
    text = "\n".join(table)
    print(text)
    write_section(ROOT / "docs" / "BENCHMARKS.md", "gpu-check", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python main.py fool IMAGE --target CLASS [--method iterative|fgsm|pgd] [--epsilon E] --out PNG`

Adversarial example: change the image imperceptibly so the classifier sees
CLASS. The PNG is the model's 224 px input crop, 8-bit, and is re-checked after
saving. The last stdout line is JSON with original, original_prob, final,
target_prob, steps, linf_255 (plus success and reloaded_prob).
"""
from __future__ import annotations

import sys

from engine.cli import print_json
from engine.cli.args import float_in, int_in


def register(subparsers) -> None:
    parser = subparsers.add_parser("fool", help="adversarial example towards a target class (PNG + JSON)",
                                   description=__doc__.strip().splitlines()[0])
    parser.add_argument("image", metavar="IMAGE", help="image file (or bundled:NAME)")
    parser.add_argument("--target", default=None, help="class index or name (required for iterative; "
                        "FGSM/PGD without a target just push away from the predicted class)")
    parser.add_argument("--method", default="iterative", choices=["iterative", "fgsm", "pgd"])
    parser.add_argument("--epsilon", type=float_in(0.0, 255.0, "--epsilon", low_open=True), default=8.0,
                        help="max change per pixel in 0-255 units (FGSM step, PGD budget, iterative limit; default 8)")
    parser.add_argument("--steps", type=int_in(1, 100_000, "--steps"), default=None,
                        help="step limit (default 100; FGSM 1)")
    parser.add_argument("--out", required=True, help="adversarial PNG")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.adversarial import AttackStep, attack_job
    from engine.cli.predict import load_input
    from engine.events import run_to_end
    from engine.images import load_image, save_png
    from engine.fileio import check_output_file
    from engine.pretrained import load_classifier

    check_output_file(args.out, inputs=[args.image], what="adversarial PNG")
    classifier = load_classifier(args.model)

    def on_event(event) -> None:
        if isinstance(event, AttackStep) and event.step % 10 == 0:
            print(f"step {event.step}: target {event.target_prob:.3f}, original {event.original_prob:.3f}, "
                  f"max change {event.linf_255:.0f}/255", file=sys.stderr)

    result = run_to_end(attack_job(classifier, load_input(args.image), method=args.method, target=args.target,
                                   epsilon_255=args.epsilon, steps=args.steps), on_event)
    save_png(args.out, result.adversarial)
    # Reload what was written: the 8-bit PNG itself must fool the model.
    reloaded = classifier.predict(load_image(args.out), k=1)[0]
    summary = result.summary()
    summary.update(reloaded=reloaded.name, reloaded_prob=round(reloaded.prob, 4), out=args.out)
    print(f"{result.original_name} -> {result.final_name} in {result.steps} steps, max change "
          f"{result.linf_255:.0f}/255; reloaded PNG: {reloaded.name} {reloaded.prob:.3f}", file=sys.stderr)
    print_json(summary)
    return 0 if result.success else 2

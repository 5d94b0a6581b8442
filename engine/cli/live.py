"""`python main.py live --source CAMERA_INDEX|VIDEO|FRAME_DIR [--mode MODE] [--frames N]`

The classifier on live frames (MODE: predict, saliency, gradcam, activations). One JSON line per
frame (index, top1, probability, milliseconds, dog and food shares), then a last line with frames,
frames per second and the dropped share.
"""
from __future__ import annotations

from engine.cli import print_json
from engine.cli.args import add_model_arguments, float_in, int_in, load_model_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser("live", help="the classifier on a camera, video file or frame folder (JSON lines)",
                                   description=__doc__.strip().splitlines()[0])
    parser.add_argument("--source", required=True, help="camera index (0, 1, ...), a video file or a folder of frames")
    parser.add_argument("--mode", default="predict", choices=["predict", "saliency", "gradcam", "activations"])
    parser.add_argument("--frames", type=int_in(1, None, "--frames"), help="stop after this many frames")
    parser.add_argument("--layer", help="--mode activations: the layer (module path, default blocks.2)")
    parser.add_argument("--every-frame", action="store_true",
                        help="process every frame of a file or folder instead of the newest (no drops)")
    parser.add_argument("--fps", type=float_in(0.1, 240.0, "--fps"), help="playback rate of a file or folder")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.events import run_to_end
    from engine.live import LiveFrame, live_job

    classifier = load_model_from_args(args)

    def on_event(event) -> None:
        if isinstance(event, LiveFrame):
            index, name, probability = event.top5[0]
            line = {"frame": event.index, "top1": name, "probability": round(probability, 4),
                    "ms": round(event.milliseconds, 1)}
            if event.dog_vs_food is not None:
                line["dog"], line["food"] = (round(v, 4) for v in event.dog_vs_food)
            print_json(line)

    summary = run_to_end(live_job(classifier, args.source, args.mode, args.frames, args.layer, args.every_frame,
                                  args.fps), on_event)
    print_json({"frames": summary.frames, "fps": round(summary.fps, 2), "captured": summary.captured,
                "dropped": summary.dropped, "dropped_share": round(summary.dropped_share, 4)})
    return 0

"""``gaitscope train-lifter`` and ``gaitscope eval-lifter``: train the bundled 3D lifter with the recipe of
:mod:`gaitscope.training.lifter_training`, and measure a lifter on held-out data
(:mod:`gaitscope.training.lifter_eval`). ``python -m gaitscope.cli.lifter train-lifter ...`` runs them alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gaitscope.training.lifter_data import DEFAULT_MOCAP_DIR
from gaitscope.training.lifter_training import WEIGHTS_PATH, Recipe, export_run, train_lifter
from gaitscope.training.noise_model import NOISE_JSON


def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    if args.export_only:
        export_run(args.out, args.export, evaluate=not args.no_eval,
                   mocap_dir=None if args.no_mocap else args.mocap_dir, noise_json=args.noise)
        return 0
    recipe = Recipe(steps=args.steps, batch_size=args.batch_size, clip_len=args.clip_len, lr=args.lr,
                    n_walks=args.walks, seed=args.seed, threads=args.threads, dim_feat=args.dim_feat,
                    depth=args.depth, warmup_steps=args.warmup, velocity_weight=args.velocity_weight,
                    view_occlusion=not args.no_view_occlusion, frontal_p=args.frontal_share,
                    pair_gain=not args.no_pair_gain, real_failure_share=args.real_failures,
                    real_failure_views=tuple(args.real_failure_views),
                    real_failure_trials=tuple(args.real_failure_trials or ()),
                    joint_mask_p=args.joint_mask, frame_mask_p=args.frame_mask, feet_weight=args.feet_weight)
    if args.measure_noise:
        from gaitscope.training.noise_model import measure_blazepose_noise

        measure_blazepose_noise(args.noise)
    export = None if args.no_export else args.export
    ckpt = train_lifter(args.out, recipe, mocap_dir=None if args.no_mocap else args.mocap_dir,
                        noise_json=args.noise, export_to=export, init_from=args.init_from,
                        evaluate=not args.no_eval, device=args.device, workers=args.workers)
    print(f"checkpoint: {ckpt}" + (f" -> {export}" if export else ""))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from gaitscope.training.lifter_eval import evaluate_all, format_table

    results = evaluate_all(args.checkpoint, mocap_dir=args.mocap_dir, n_synthetic=args.walks,
                           video=not args.no_video, noise_json=args.noise,
                           view_occlusion=not args.no_view_occlusion, views=not args.no_views)
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


def register_cli(subparsers) -> None:
    """Add ``train-lifter`` and ``eval-lifter`` to the ``gaitscope`` command (``argparse`` sub-parsers)."""
    tr = subparsers.add_parser("train-lifter", help="train the bundled 3D lifter (synthetic walks + mocap)")
    tr.add_argument("--out", default="runs/lifter_small", help="run folder (resumes from its last.pt)")
    tr.add_argument("--steps", type=int, default=Recipe.steps)
    tr.add_argument("--batch-size", type=int, default=Recipe.batch_size)
    tr.add_argument("--clip-len", type=int, default=Recipe.clip_len)
    tr.add_argument("--lr", type=float, default=Recipe.lr)
    tr.add_argument("--warmup", type=int, default=Recipe.warmup_steps)
    tr.add_argument("--velocity-weight", type=float, default=Recipe.velocity_weight)
    tr.add_argument("--walks", type=int, default=Recipe.n_walks, help="number of synthetic walks")
    tr.add_argument("--dim-feat", type=int, default=Recipe.dim_feat, help="token width (default: the config's)")
    tr.add_argument("--depth", type=int, default=Recipe.depth, help="dual-stream block pairs (default: config's)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=2, help="torch CPU threads (the machine is shared)")
    tr.add_argument("--mocap-dir", default=str(DEFAULT_MOCAP_DIR))
    tr.add_argument("--no-mocap", action="store_true", help="synthetic walks only")
    tr.add_argument("--noise", default=str(NOISE_JSON), help="measured 2D noise model (JSON)")
    tr.add_argument("--measure-noise", action="store_true", help="re-measure BlazePose noise first (~3-8 min)")
    tr.add_argument("--no-view-occlusion", action="store_true",
                    help="per-frame dropouts only, not the measured far-side occlusion runs (the first model's data)")
    tr.add_argument("--no-pair-gain", action="store_true",
                    help="do not shrink left-right limb separations as BlazePose does (noise field pair_gain)")
    tr.add_argument("--frontal-share", type=float, default=Recipe.frontal_p,
                    help="share of clips seen from near frontal/rear views (stage 3 of the bundled model: 0.3)")
    tr.add_argument("--real-failures", type=float, default=Recipe.real_failure_share,
                    help="share of clips whose 2D is BlazePose's detection of a rendered training trial "
                         "(gaitscope.training.real_failures; renders and detects on first use, cached in runs/)")
    tr.add_argument("--real-failure-views", nargs="+", default=list(Recipe.real_failure_views),
                    choices=["side", "oblique", "frontal", "back"])
    tr.add_argument("--real-failure-trials", nargs="+", default=None,
                    help="render only these training trials (paths as in TRAIN_MOCAP), the same for every view: "
                         "a fixed subset when rendering all of them would take too long (default: all)")
    tr.add_argument("--joint-mask", type=float, default=Recipe.joint_mask_p,
                    help="share of 2D joints masked per clip (MotionBERT pretraining: 0.15)")
    tr.add_argument("--frame-mask", type=float, default=Recipe.frame_mask_p,
                    help="share of whole 2D frames masked per clip (MotionBERT pretraining: 0.15)")
    tr.add_argument("--feet-weight", type=float, default=Recipe.feet_weight,
                    help="weight of the loss on the feet's left-minus-right separation (0: MotionBERT's objective)")
    tr.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                    help="where to train: cpu (default), cuda (bf16 autocast) or auto (CUDA when present)")
    tr.add_argument("--workers", type=int, default=0,
                    help="processes preparing training clips (0: in the training process; a GPU wants several)")
    tr.add_argument("--init-from", default=None, help="start from this checkpoint's weights")
    tr.add_argument("--export", default=str(WEIGHTS_PATH), help="where to copy the finished checkpoint")
    tr.add_argument("--no-export", action="store_true", help="keep the result in the run folder only")
    tr.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation at the end")
    tr.add_argument("--export-only", action="store_true",
                    help="do not train: export the run folder's newest weights (even mid-run) to --export")
    tr.set_defaults(func=_cmd_train)

    ev = subparsers.add_parser("eval-lifter", help="MPJPE / PA-MPJPE / N-MPJPE of a lifter on held-out data")
    ev.add_argument("--checkpoint", default=str(WEIGHTS_PATH))
    ev.add_argument("--mocap-dir", default=str(DEFAULT_MOCAP_DIR))
    ev.add_argument("--walks", type=int, default=12, help="held-out synthetic walks")
    ev.add_argument("--noise", default=str(NOISE_JSON))
    ev.add_argument("--no-video", action="store_true", help="skip the end-to-end run on the sample video")
    ev.add_argument("--no-views", action="store_true",
                    help="skip the rendered walks from views all round (side, obliques, frontal, back)")
    ev.add_argument("--json", default=None, help="also write the results as JSON")
    ev.add_argument("--no-view-occlusion", action="store_true",
                    help="projected sets with per-frame dropouts only (as the first model was measured)")
    ev.set_defaults(func=_cmd_eval)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gaitscope")
    register_cli(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())

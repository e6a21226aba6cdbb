"""``gaitscope train-action`` / ``evaluate-action`` / ``make-ntu-synthetic``: action recognition on NTU-format data.

    gaitscope train-action FOLDER --out DIR [--split xsub|xview] [--checkpoint ENCODER] [--steps N] ...
    gaitscope evaluate-action FOLDER --checkpoint DIR/action_model.pt [--split xsub|xview] [--out DIR]
    gaitscope make-ntu-synthetic FOLDER          # a small synthetic set of .skeleton files (4 actions)

FOLDER holds NTU RGB+D ``.skeleton`` files the user supplies (named ``SsssCcccPpppRrrrAaaa.skeleton``), optionally
with ``classes.txt`` naming the actions (line i = action i; default: the NTU-60 class names). ``--split`` picks
the protocol (cross-subject or cross-view, :mod:`gaitscope.models.ntu`); training uses its training side,
evaluation its test side. ``--checkpoint`` of ``train-action`` is the encoder to start from: an official MotionBERT
file (pretrained ``MB_release`` or any fine-tune) or a gaitscope lifter checkpoint; without it a randomly
initialised ``--config`` is trained from scratch (fine for the synthetic set, weak on real data).

Outputs: ``action_model.pt`` (our checkpoint format, official key names), ``metrics.csv`` (training log),
``evaluation.json`` (top-1 accuracy, chance level), ``confusion_matrix.csv`` (rows true, columns predicted) and
``predictions.csv``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from gaitscope.errors import InvalidInputError

log = logging.getLogger(__name__)

MODEL_FILE = "action_model.pt"


def _clips(folder: Path, split: str, subset: str, source: str, cache: str | None = None):
    from gaitscope.models.ntu import load_ntu_folder

    clips = load_ntu_folder(folder, split=split, subset=subset, source=source,  # type: ignore[arg-type]
                            cache_dir=cache)
    if not clips:
        raise InvalidInputError(f"No {subset} clips of the {split} protocol in {folder}.",
                                "Check the file names (performers / cameras) or choose the other --split.")
    return clips


def evaluate_clips(model, clips, n_frames: int, out_dir: Path | None, class_names) -> dict:
    """Top-1 accuracy on ``clips``; writes confusion matrix / predictions CSVs and evaluation.json to ``out_dir``."""
    import numpy as np
    import pandas as pd

    from gaitscope.models.action import action_clip, confusion_matrix, predict_logits

    x = np.stack([action_clip(c.xy_px, c.conf, n_frames) for c in clips])
    y = np.array([c.name.label for c in clips])
    logits = predict_logits(model, x)
    n_cls = logits.shape[1]
    if y.max() >= n_cls:
        raise InvalidInputError(f"The data has action {int(y.max()) + 1} but the model knows {n_cls} classes.",
                                "Evaluate on data with the classes the model was trained for.")
    pred = logits.argmax(axis=1)
    top1 = float((pred == y).mean())
    names = list(class_names)[:n_cls] + [f"class {i + 1}" for i in range(len(class_names), n_cls)]
    counts = np.bincount(y, minlength=n_cls)
    result = {"top1": top1, "n_clips": int(len(y)), "n_classes": n_cls,
              "chance": float(counts.max() / counts.sum()), "correct": int((pred == y).sum())}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        cm = confusion_matrix(y, pred, n_cls)
        pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=names).to_csv(out_dir / "confusion_matrix.csv")
        pd.DataFrame({"file": [c.name.stem for c in clips], "true": [names[i] for i in y],
                      "predicted": [names[i] for i in pred]}).to_csv(out_dir / "predictions.csv", index=False)
        (out_dir / "evaluation.json").write_text(json.dumps(result, indent=2))
    return result


def cmd_train_action(args: argparse.Namespace) -> int:
    import torch

    from gaitscope.models.action import ActionClipDataset, ActionHeadClassification, ActionNet, save_action_checkpoint
    from gaitscope.models.configs import get_config
    from gaitscope.models.dstformer import DSTformer
    from gaitscope.models.ntu import class_names
    from gaitscope.models.training import ClassificationObjective, TrainConfig, train

    folder = Path(args.folder)
    train_clips = _clips(folder, args.split, "train", args.source, args.cache)
    # classes: those named in classes.txt when present, else as many as the highest action number in the data
    n_cls = max(c.name.action for c in train_clips)
    names = class_names(folder, n_cls)
    if (folder / "classes.txt").is_file():
        n_cls = max(n_cls, len(names))
    if args.checkpoint:
        from gaitscope.models.checkpoints import load_checkpoint

        loaded = load_checkpoint(args.checkpoint, trust_checkpoint=args.trust_checkpoint)
        backbone, cfg = loaded.model, loaded.config
        encoder = str(loaded.metadata.get("model_version", args.checkpoint))
    else:
        cfg = get_config(args.config)
        torch.manual_seed(args.seed)
        backbone, encoder = DSTformer(**cfg.model_kwargs()), f"untrained {cfg.name}"
    n_frames = min(args.frames, cfg.maxlen)
    head = ActionHeadClassification(cfg.dim_rep, n_cls, cfg.num_joints, args.hidden, args.dropout)
    model = ActionNet(backbone, head, names[:n_cls])
    if args.freeze_backbone:
        model.backbone.requires_grad_(False)
    data = ActionClipDataset([(c.xy_px, c.conf) for c in train_clips], [c.name.label for c in train_clips],
                             n_frames=n_frames, augment=True, seed=args.seed)
    tcfg = TrainConfig(steps=args.steps, batch_size=min(args.batch_size, len(data)), lr=args.lr,
                       backbone_lr_mult=args.backbone_lr_mult, warmup_steps=min(10, args.steps // 10),
                       seed=args.seed, progress=not args.quiet, ckpt_every=max(args.steps, 1))
    out = Path(args.out)
    meta = {"task": "action", "data": str(folder), "split": args.split, "source": args.source,
            "n_frames": n_frames, "encoder": encoder, "n_train_clips": len(data)}
    result = train(model, data, ClassificationObjective(), tcfg, out, device=args.device, metadata=meta)
    model.eval()
    ev = None
    try:
        test_clips = _clips(folder, args.split, "test", args.source, args.cache)
    except InvalidInputError:
        test_clips = []
    if test_clips:
        ev = evaluate_clips(model.cpu(), test_clips, n_frames, out, model.class_names)
        meta["test"] = ev
    meta["training"] = {"steps": result.step, "final_loss": result.last_loss, "config": tcfg.to_dict()}
    meta["model_version"] = f"action-{args.split}-{cfg.name}-s{args.seed}"
    path = save_action_checkpoint(out / MODEL_FILE, model.cpu(), cfg, meta)
    print(f"Trained on {len(data)} clips ({args.split} train side), {result.step} steps, last loss "
          f"{result.last_loss:.4f}; model: {path}")
    if ev is not None:
        print(f"Test ({args.split}): top-1 {ev['top1'] * 100:.1f} % on {ev['n_clips']} clips "
              f"(chance {ev['chance'] * 100:.1f} %); confusion matrix: {out / 'confusion_matrix.csv'}")
    return 0


def cmd_evaluate_action(args: argparse.Namespace) -> int:
    from gaitscope.models.action import load_action_checkpoint
    from gaitscope.models.ntu import class_names

    folder = Path(args.folder)
    loaded = load_action_checkpoint(args.checkpoint, trust_checkpoint=args.trust_checkpoint)
    if loaded.version != "class":
        raise InvalidInputError("This checkpoint is a 1-shot embedding model, not a classifier.",
                                "Use it through gaitscope.models.action_matching instead.")
    n_frames = min(int(args.frames or loaded.metadata.get("n_frames", 243)), loaded.config.maxlen)
    clips = _clips(folder, args.split, args.subset, args.source, args.cache)
    names = loaded.model.class_names or class_names(folder, loaded.model.head.num_classes)
    out = Path(args.out) if args.out else None
    ev = evaluate_clips(loaded.model, clips, n_frames, out, names)
    print(f"{args.split} {args.subset}: top-1 {ev['top1'] * 100:.1f} % ({ev['correct']}/{ev['n_clips']} clips, "
          f"{ev['n_classes']} classes, chance {ev['chance'] * 100:.1f} %)")
    if out is not None:
        print(f"Wrote {out / 'confusion_matrix.csv'}, {out / 'predictions.csv'}, {out / 'evaluation.json'}")
    return 0


def cmd_make_synthetic(args: argparse.Namespace) -> int:
    from gaitscope.models.ntu_synthetic import write_synthetic_ntu

    paths = write_synthetic_ntu(args.folder, subjects=args.subjects, cameras=args.cameras, n_frames=args.frames,
                                seed=args.seed)
    print(f"Wrote {len(paths)} .skeleton files and classes.txt to {args.folder}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="folder with NTU .skeleton files (and optionally classes.txt)")
    p.add_argument("--split", choices=["xsub", "xview"], default="xsub", help="evaluation protocol")
    p.add_argument("--source", choices=["color", "depth", "project"], default="color",
                   help="2D keypoints: the files' colour or depth pixels, or a projection of the 3D joints")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow unpickling non-tensor objects of a checkpoint you trust (official files)")
    p.add_argument("--cache", default=None,
                   help="folder for a binary cache of the parsed .skeleton files (speeds up later runs)")


def register_cli(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train-action", help="train an action classifier on NTU-format .skeleton files")
    _common(t)
    t.add_argument("--out", required=True, help="output folder (model, training log, test metrics)")
    t.add_argument("--checkpoint", default=None, help="encoder to start from (official MotionBERT or gaitscope)")
    t.add_argument("--config", default="small", help="encoder size without --checkpoint (small, motionbert-lite, "
                                                     "motionbert)")
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3, help="head learning rate (official: 1e-3)")
    t.add_argument("--backbone-lr-mult", type=float, default=0.1, help="backbone lr factor (official: 0.1)")
    t.add_argument("--frames", type=int, default=243, help="clip length fed to the model (official: 243)")
    t.add_argument("--hidden", type=int, default=2048, help="hidden width of the head (official: 2048)")
    t.add_argument("--dropout", type=float, default=0.5, help="dropout on the representation (official: 0.5)")
    t.add_argument("--freeze-backbone", action="store_true", help="train the head only")
    t.add_argument("--device", default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train_action)

    e = sub.add_parser("evaluate-action", help="top-1 accuracy and confusion matrix of an action model")
    _common(e)
    e.add_argument("--checkpoint", required=True, help="action model (ours or official NTU checkpoint)")
    e.add_argument("--subset", choices=["test", "train", "all"], default="test")
    e.add_argument("--frames", type=int, default=None, help="clip length (default: the model's training length)")
    e.add_argument("--out", default=None, help="folder for confusion_matrix.csv / predictions.csv")
    e.set_defaults(func=cmd_evaluate_action)

    s = sub.add_parser("make-ntu-synthetic", help="write a small synthetic NTU-format set (4 actions)")
    s.add_argument("folder")
    s.add_argument("--frames", type=int, default=72, help="frames per clip (30 fps)")
    s.add_argument("--subjects", type=int, nargs="+", default=[1, 2, 4, 3, 6],
                   help="performer numbers (1, 2, 4 are cross-subject training performers; 3, 6 test)")
    s.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_make_synthetic)

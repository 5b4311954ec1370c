"""Packed training: trial-epochs per second of PackedTrainer packs against one Trainer per trial.

On each device (one CPU thread; CUDA too when a GPU is present) the script first
times one :class:`Trainer` (the baseline: one trial per process), then one
:class:`PackedTrainer` for every pack size K. A pack's members have seeds 0..K-1 and
λ_F spread over (0, 1) with λ_R = 1 − λ_F. Each measurement trains one untimed
warm-up epoch, then ``--epochs`` timed epochs, evaluation included, so the numbers
are whole trial-epochs as a study spends them. Ratios are against the baseline
measured in the same run on the same device.

Memory per member is the bytes of the parameters, their gradients and Adam's two
moments divided by K (exact), and the peak of the process: peak RSS on the CPU
(the process's peak so far; K grows, so it is the peak of the largest pack yet),
``torch.cuda.max_memory_allocated`` on CUDA (reset before each measurement).

A step profile then says where a member-step's time goes at each K: one gradient
pass and one fused Adam step, each timed alone on random batches, per member (CPU
time on the CPU, wall time on CUDA).
Adam touches every parameter of every member each step (the embedding gradients
are dense), so its cost per member cannot fall with K: it is the floor of the CPU
gain.

``--out`` receives ``results.json`` (every number) and ``results.md`` (the table,
for the README); the committed runs are in ``benchmarks/results/packing/<machine>``.

    python benchmarks/bench_packing.py                        # ML-100K, K = 1..64
    python benchmarks/bench_packing.py --dataset synthetic --packs 1,4 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mtlstudy._json import jsonable
from mtlstudy.data import load_dataset, random_train_test_split
from mtlstudy.models import (
    JointGradient,
    MultiTaskNet,
    PackedJointGradient,
    PackedMultiTaskNet,
)
from mtlstudy.training import PackedTrainer, TrainConfig, Trainer

#: The issue's goal on one CPU thread: this many times the baseline's trial-epochs/s at the best K.
CPU_GOAL = 1.5
PROFILE_STEPS = 30


def member_configs(base: TrainConfig, size: int) -> list[TrainConfig]:
    """K members: seeds 0..K-1, λ_F evenly inside (0, 1), λ_R = 1 − λ_F."""
    configs = []
    for seed in range(size):
        lambda_f = (seed + 0.5) / size
        configs.append(TrainConfig(**{**base.to_dict(), "seed": seed, "lambda_f": lambda_f, "lambda_r": 1 - lambda_f}))
    return configs


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _peak_bytes(device: str) -> int:
    if device == "cuda":
        return torch.cuda.max_memory_allocated()
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _state_bytes(parameters: Sequence[torch.Tensor], optimizer: torch.optim.Optimizer) -> int:
    """Parameters, gradients and Adam's moments, in bytes."""
    tensors = [*parameters, *(p.grad for p in parameters if p.grad is not None)]
    tensors += [value for state in optimizer.state.values() for value in state.values() if value.dim() > 0]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def time_epochs(trainer: Trainer | PackedTrainer, epochs: int, device: str) -> dict[str, float]:
    """Wall and CPU seconds per epoch over ``epochs`` epochs after one untimed warm-up epoch.

    On a shared machine other processes take turns on the core, which stretches wall
    time but not the process's CPU time; on one quiet thread the two agree.
    """
    trainer.train_epoch()
    _synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        trainer.train_epoch()
    _synchronize(device)
    return {
        "wall_s_per_epoch": (time.perf_counter() - wall) / epochs,
        "cpu_s_per_epoch": (time.process_time() - cpu) / epochs,
    }


def measure_baseline(base: TrainConfig, split, epochs: int, device: str) -> dict[str, Any]:
    _reset_peak(device)
    trainer = Trainer(base, *split)
    return _throughput(1, time_epochs(trainer, epochs, device)) | {
        "K": "Trainer",
        "state_bytes_per_member": _state_bytes(list(trainer.net.parameters()), trainer.optimizer),
        "peak_bytes": _peak_bytes(device),
    }


def measure_pack(base: TrainConfig, split, size: int, epochs: int, device: str) -> dict[str, Any]:
    _reset_peak(device)
    pack = PackedTrainer(member_configs(base, size), *split)
    return _throughput(size, time_epochs(pack, epochs, device)) | {
        "K": size,
        "state_bytes_per_member": _state_bytes(list(pack.net.parameters()), pack.optimizer) / size,
        "peak_bytes": _peak_bytes(device),
    }


def _throughput(size: int, seconds: dict[str, float]) -> dict[str, float]:
    """Trial-epochs per wall second and per CPU second of a run of ``size`` trials."""
    return seconds | {
        "trial_epochs_per_s": size / seconds["wall_s_per_epoch"],
        "trial_epochs_per_cpu_s": size / seconds["cpu_s_per_epoch"],
    }


def profile_steps(base: TrainConfig, split, size: int | None, device: str) -> dict[str, float]:
    """Milliseconds per member-step of the gradient pass and of Adam; ``size=None`` is the lone trainer's."""
    train = split[0]
    nets = []
    for seed in range(size or 1):
        torch.manual_seed(seed)
        nets.append(MultiTaskNet(train.num_users, train.num_items, base.embedding_dim, base.layer_sizes, base.shared))
    generator = torch.Generator().manual_seed(0)
    count = size or 1
    users = torch.randint(0, train.num_users, (count, base.batch_size), generator=generator).to(device)
    pairs = torch.randint(0, train.num_items, (count, base.batch_size, 2), generator=generator).to(device)
    ratings = torch.randint(1, 6, (count, base.batch_size), generator=generator).float().to(device)
    if size is None:
        net = nets[0].to(device)
        gradient = JointGradient(net)

        def gradient_step() -> None:
            gradient(users[0], pairs[0, :, 0], pairs[0, :, 1], ratings[0], base.lambda_f, base.lambda_r)

    else:
        net = PackedMultiTaskNet(nets).to(device)
        packed = PackedJointGradient(net)
        user_rows, pair_rows = packed.rows(users, train.num_users), packed.rows(pairs, train.num_items)
        lambdas = torch.full((size, 1), 0.5, device=device)

        def gradient_step() -> None:
            packed(user_rows, pair_rows, ratings, lambdas, lambdas)

    optimizer = torch.optim.Adam(net.parameters(), lr=base.lr, fused=True)
    # CPU time on the CPU (robust to other processes on a shared core), wall time on CUDA.
    clock = time.process_time if device == "cpu" else time.perf_counter
    timings = {}
    for name, step in (("gradient_ms", gradient_step), ("adam_ms", optimizer.step)):
        step()
        _synchronize(device)
        started = clock()
        for _ in range(PROFILE_STEPS):
            step()
        _synchronize(device)
        timings[name] = (clock() - started) / PROFILE_STEPS / count * 1e3
    return timings


def run_device(device: str, args: argparse.Namespace, split) -> list[dict[str, Any]]:
    base = TrainConfig(dataset=args.dataset, device=device, shared=args.shared, seed=0)
    print(f"\n[{device}] baseline: one Trainer", flush=True)
    rows = [measure_baseline(base, split, args.epochs, device) | profile_steps(base, split, None, device)]
    for size in args.packs:
        print(f"[{device}] pack of {size}", flush=True)
        rows.append(measure_pack(base, split, size, args.epochs, device) | profile_steps(base, split, size, device))
    for row in rows:
        row["device"] = device
        row["ratio"] = row["trial_epochs_per_s"] / rows[0]["trial_epochs_per_s"]
        row["cpu_ratio"] = row["trial_epochs_per_cpu_s"] / rows[0]["trial_epochs_per_cpu_s"]
    return rows


def cpu_name() -> str:
    """The processor's model name where Linux gives it, else the machine type."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0]} ({len(names)} cores)" if names else platform.machine()


def machine_line(args: argparse.Namespace, devices: Sequence[str]) -> str:
    parts = [f"{cpu_name()}, torch {torch.__version__}, 1 CPU thread"]
    if "cuda" in devices:
        parts.append(torch.cuda.get_device_name())
    parts.append(f"{args.dataset}, shared={args.shared}, {args.epochs} timed epochs after 1 warm-up")
    return "; ".join(parts)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| device | K | trial-epochs/s | vs one Trainer | pack s/epoch | vs one Trainer, CPU time "
        "| gradient ms/member-step | Adam ms/member-step | state MB/member | peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['device']} | {row['K']} | {row['trial_epochs_per_s']:.2f} | {row['ratio']:.2f}x "
            f"| {row['wall_s_per_epoch']:.3f} | {row['cpu_ratio']:.2f}x "
            f"| {row['gradient_ms']:.3f} | {row['adam_ms']:.3f} "
            f"| {row['state_bytes_per_member'] / 2**20:.2f} | {row['peak_bytes'] / 2**20:.0f} |"
        )
    return "\n".join(lines)


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for device in dict.fromkeys(row["device"] for row in rows):
        packs = [row for row in rows if row["device"] == device and row["K"] != "Trainer"]
        best = max(packs, key=lambda row: row["trial_epochs_per_s"])
        line = f"- {device}: best K = {best['K']}, {best['ratio']:.2f}x the trial-epochs/s of one Trainer"
        if device == "cpu":
            line += (
                f" ({best['cpu_ratio']:.2f}x per CPU second); goal >= {CPU_GOAL}x in wall time: "
                f"{'yes' if best['ratio'] >= CPU_GOAL else 'no'}"
            )
        lines.append(line)
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k", help="ml-100k [default] or synthetic")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per measurement [3]")
    parser.add_argument("--packs", default="1,2,4,8,16,32,64", help="pack sizes K [1,2,4,8,16,32,64]")
    parser.add_argument("--shared", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--devices", help="cpu, cuda or cpu,cuda [cpu, plus cuda when a GPU is present]")
    parser.add_argument("--out", type=Path, help="output folder [benchmarks/results/packing/<devices>]")
    args = parser.parse_args(argv)
    args.packs = [int(size) for size in args.packs.split(",")]
    args.devices = args.devices.split(",") if args.devices else ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    args.out = args.out or Path(__file__).resolve().parent / "results" / "packing" / "-".join(args.devices)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    split = random_train_test_split(load_dataset(args.dataset, progress=True).interactions)
    rows = [row for device in args.devices for row in run_device(device, args, split)]
    machine = machine_line(args, args.devices)
    markdown = "\n\n".join([machine, markdown_table(rows), "\n".join(verdicts(rows))])
    print("\n" + markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(markdown + "\n", encoding="utf-8")
    results = {"machine": machine, "config": vars(args) | {"out": str(args.out)}, "rows": rows}
    (args.out / "results.json").write_text(json.dumps(jsonable(results), indent=1), encoding="utf-8")
    print(f"wrote {args.out / 'results.md'} and results.json")


if __name__ == "__main__":
    main()

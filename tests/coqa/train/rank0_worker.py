"""Rank 0 working alone under DDP, for tests/coqa/train/test_rank0_alone.py.

Run under `python -m torch.distributed.run --nproc_per_node 2` (CPU, gloo) with a training
group whose timeout (--collective_timeout) is shorter than the work rank 0 does alone
(--work_seconds), as NCCL's 10 minutes are shorter than a full evaluation:

- `train_eval`: the toy training loop with an evaluation during training that sleeps on
  rank 0, then a final "evaluation" that sleeps, through `main_rank_alone`; writes
  result.json when every rank is through;
- `collective`: what happened before: rank 0 sleeps while rank 1 waits in a barrier of
  the training group; the job must die of the short timeout (the control experiment);
- `cache`: `load_features` of data/sample/train.json twice (built, then --overwrite_cache),
  every `save_cache` call of each rank written to saves-<rank>.txt;
- `bad_input`: rank 0 finds bad input while working alone (a UsageError, as a malformed
  data file is), through the entry scripts' `exit_on_bad_input`; the other rank waits;
- `slow`: rank 0 works alone for --work_seconds, longer than --wait_timeout;
- `interrupt`: Ctrl-C on every rank during training (the toy data raises
  KeyboardInterrupt at the third step), around training as the entry scripts have it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:  # torchrun runs this file as a script
    sys.path.insert(0, str(REPO))

import torch.distributed as torch_dist  # noqa: E402

from coqa.cli import exit_on_bad_input, setup_logging  # noqa: E402
from coqa.train import distributed  # noqa: E402
from coqa.train.config import TrainConfig  # noqa: E402
from coqa.train.loop import train  # noqa: E402
from tests.coqa.train.ddp_worker import ToyDataset, ToyModel, save_state_dict  # noqa: E402


def train_eval(info, args) -> None:
    evaluations = []

    def evaluate(step: int):
        time.sleep(args.work_seconds)
        evaluations.append(step)
        return {"score": float(step)}

    config = TrainConfig(output_dir=args.output_dir, per_device_batch_size=2,
                         gradient_accumulation_steps=2, learning_rate=1e-2,
                         num_train_epochs=1, warmup_steps=0, logging_steps=1, save_steps=2,
                         seed=13)
    result = train(ToyModel(), ToyDataset(16), config, save_state_dict, dist=info,
                   evaluate_fn=evaluate if info.is_main else None)
    final = distributed.main_rank_alone(info, lambda: time.sleep(args.work_seconds) or "done")
    if info.is_main:
        (Path(args.output_dir) / "result.json").write_text(json.dumps(
            {"global_step": result.global_step, "evaluations": evaluations, "final": final}))


def collective(info, args) -> None:
    if info.is_main:
        time.sleep(args.work_seconds)
    torch_dist.barrier()  # the training group, as the old code waited


def cache(info, args) -> None:
    from coqa.data import cache as cache_module
    from coqa.data.folders import load_tokenizer
    from coqa.extractive.features import FeatureConfig
    from coqa.extractive.steps import DataSettings, load_features

    saves = Path(args.output_dir) / f"saves-{info.rank}.txt"
    real_save = cache_module.save_cache

    def counted_save(path, *rest, **kwargs):
        with saves.open("a") as out:
            out.write(f"{Path(path).name}\n")
        return real_save(path, *rest, **kwargs)

    cache_module.save_cache = counted_save
    tokenizer = load_tokenizer(args.tokenizer, True)
    for overwrite in (False, True):
        settings = DataSettings(FeatureConfig(max_seq_length=128, doc_stride=32),
                                str(Path(args.output_dir) / "cache"), "tiny", overwrite, 1, False)
        features = load_features(str(REPO / "data/sample/train.json"), "train", tokenizer,
                                 settings, info)
        with saves.open("a") as out:
            out.write(f"loaded {len(features)}\n")


def bad_input(info, args) -> None:
    from coqa.data.errors import UsageError

    def work():
        time.sleep(1)  # the other rank is waiting by then
        raise UsageError("bad.json: not JSON")
    distributed.main_rank_alone(info, work)


def slow(info, args) -> None:
    distributed.main_rank_alone(info, lambda: time.sleep(args.work_seconds))


class _CtrlC(ToyDataset):
    def batch(self, indices):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return super().batch(indices)


def interrupt(info, args) -> None:
    config = TrainConfig(output_dir=args.output_dir, per_device_batch_size=2,
                         learning_rate=1e-2, num_train_epochs=1, warmup_steps=0,
                         logging_steps=0, save_steps=1, seed=13)
    with distributed.interruption_said_once(info):
        train(ToyModel(), _CtrlC(16), config, save_state_dict, dist=info)


@exit_on_bad_input
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output_dir", help="where the results are written")
    parser.add_argument("mode", choices=("train_eval", "collective", "cache", "bad_input", "slow",
                                                "interrupt"),
                        help="experiment")
    parser.add_argument("--collective_timeout", type=float, default=5,
                        help="timeout of the training group's collectives, seconds")
    parser.add_argument("--wait_timeout", type=float, default=120,
                        help="how long barrier waits for rank 0 (--ddp_timeout), seconds")
    parser.add_argument("--work_seconds", type=float, default=8,
                        help="how long rank 0 works alone each time")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (cache mode)")
    args = parser.parse_args(argv)
    info = distributed.init_distributed(no_cuda=True, timeout_s=args.wait_timeout,
                                        collective_timeout_s=args.collective_timeout)
    setup_logging(distributed.log_level(info))
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    {"train_eval": train_eval, "collective": collective, "cache": cache, "bad_input": bad_input,
     "slow": slow, "interrupt": interrupt}[args.mode](info, args)
    distributed.cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())

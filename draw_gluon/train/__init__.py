"""Train counting samples, not epochs: ``python train_mnist.py --attention``.

``flags`` holds the training config (:class:`TrainConfig`, one field per flag) and makes it from the
command line or a resumed run's ``args.json``; ``loop`` trains
whatever ``objectives`` gives it: DRAW on its variational bound, or the section 4.1 classifier.
"""
from .flags import (ArgumentParser, TrainConfig, build_parser, check_gpus, config_from_args, parse_args,
                    positive_float, positive_int)
from .loop import (Diverged, Part, Workers, evaluate, fit, lr_schedule, make_trainer, prepare, split_batch, train,
                   train_step, trainable, validate)
from .loop import main
from .objectives import TASKS, Classification, VariationalBound

__all__ = ["main", "train", "fit", "TrainConfig", "parse_args", "build_parser", "config_from_args", "make_trainer", "lr_schedule",
           "train_step", "trainable", "evaluate", "validate", "prepare", "Diverged", "ArgumentParser",
           "check_gpus", "positive_int", "positive_float", "split_batch", "Part", "Workers", "TASKS", "VariationalBound",
           "Classification"]

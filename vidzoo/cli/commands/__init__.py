"""One module per CLI command, imported only when that command runs."""

import argparse


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose mistakes are one line (via VidzooError: exit 2, no usage dump)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        from vidzoo.errors import VidzooError

        raise VidzooError(f"{message}; see `{self.prog} --help`")


def add_model_arguments(p: ArgumentParser, checkpoint_help: str) -> None:
    """--checkpoint or --model NAME[:VARIANT] with --pretrained and --backbone.OPTION: a run's
    checkpoint or a published model (the same flags on predict, test, serve and export)."""
    p.add_argument("--checkpoint", metavar="CKPT", help=checkpoint_help)
    p.add_argument("--model", metavar="NAME[:VARIANT]",
                   help="a registered model with its published weights and classifier instead of a checkpoint "
                        "(`vidzoo list --pretrained`); VARIANT: another of its weights")
    p.add_argument("--pretrained", metavar="SOURCE",
                   help="with --model: the weights (default: its published ones), a file, an http(s) URL or a Hub id")
    p.add_argument("--backbone.OPTION", dest="_backbone_help", metavar="VALUE",
                   help="with --model: a backbone option, e.g. --backbone.num_frames 8 (the size of the weights given)")


def parse_model_args(p: ArgumentParser, argv: list[str]):
    """Parse argv; ``args.model_ref`` is the checkpoint or model name, ``args.backbone_options`` the
    --backbone.OPTION values (YAML scalars). Both or neither of --checkpoint/--model: one line."""
    import yaml

    from vidzoo.errors import VidzooError

    rest, options, i = [], {}, 0
    while i < len(argv):
        key, eq, value = argv[i].partition("=")
        if key.startswith("--backbone.") and key != "--backbone.OPTION":
            if not eq:
                if i + 1 >= len(argv):
                    raise VidzooError(f"{key} needs a value; see `{p.prog} --help`")
                value, i = argv[i + 1], i + 1
            options[key[len("--backbone."):]] = yaml.safe_load(value)
        else:
            rest.append(argv[i])
        i += 1
    args = p.parse_args(rest)
    if bool(args.checkpoint) == bool(args.model):
        raise VidzooError(f"give --checkpoint CKPT (a run's) or --model NAME (a published model){', not both' if args.model else ''}; "
                          f"see `{p.prog} --help`")
    from vidzoo.evaluation.inference import is_model_name

    if args.checkpoint and is_model_name(args.checkpoint):  # never taken for a model name by accident
        raise VidzooError(f"checkpoint {args.checkpoint} does not exist; pass a run's checkpoints/best.ckpt "
                          f"(or --model {args.checkpoint} for a published model)")
    if args.checkpoint and (args.pretrained or options):
        raise VidzooError("--pretrained and --backbone.OPTION go with --model, not --checkpoint (a checkpoint has its weights)")
    args.model_ref, args.backbone_options = args.model or args.checkpoint, options
    return args


def open_model(args, device: str | None = None):
    """The Predictor of parse_model_args' arguments."""
    from vidzoo.evaluation.inference import Predictor

    if args.model:
        return Predictor.from_published(args.model, args.pretrained, device=device, **args.backbone_options)
    return Predictor.from_checkpoint(args.checkpoint, device=device)

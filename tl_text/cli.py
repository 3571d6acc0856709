"""`tl-text`: the command line. Each sub-command lives with the code it runs.

    tl-text data describe imdb --data-dir ../shared/data
    tl-text transfer --fraction 0.05
    tl-text crossdomain --domains imdb,books,dvd,electronics,kitchen --model denil
    tl-text nsmc --arms nb-lr:char,kim:wordpiece
    tl-text lr-find imdb --pretrained minilm --fraction 0.05 --out lr_find.png
    tl-text predict --model saved_models/imdb-kim "A wonderful film."
    tl-text serve --model-base-path saved_models/imdb-kim --port 8501
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from tl_text.errors import TlTextError

# --- options the sub-commands share ---------------------------------------------------------

def fraction(text: str) -> float:
    """argparse type: a share in (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"fraction must be in (0, 1]: {text}")
    return value


def fractions(text: str) -> list[float]:
    """argparse type: comma-separated shares in (0, 1]."""
    values = [float(v) for v in text.split(",")]
    if not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"fractions must be in (0, 1]: {text}")
    return values


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data root (default: $TL_TEXT_DATA)")


def add_run_options(parser: argparse.ArgumentParser, out: str) -> None:
    """--data-dir, --out (default `out`) and --verbose, for the experiment commands."""
    add_data_dir(parser)
    parser.add_argument("--out", default=out,
                        help="folder for the results (JSON, CSV, Markdown table, PNG plot)")
    parser.add_argument("--verbose", type=int, default=1 if sys.stdout.isatty() else 2,
                        help="Keras verbosity: 1 progress bars, 2 one line per epoch, 0 quiet")


def config_from_args(defaults, args: argparse.Namespace):
    """The dataclass `defaults` with every field that `args` also has replaced."""
    names = {f.name for f in dataclasses.fields(defaults)}
    return dataclasses.replace(defaults, **{k: v for k, v in vars(args).items() if k in names})


# --- the parser -----------------------------------------------------------------------------


def _describe(args) -> None:
    from tl_text.data import describe, load_corpus
    options = {k: v for k, v in (("text_column", args.text_column),
                                 ("label_column", args.label_column),
                                 ("labels", args.labels)) if v is not None}
    splits = load_corpus(args.source, data_dir=args.data_dir, skip_empty=args.skip_empty,
                         **options)
    print(describe(splits, samples=args.samples))


def _lr_find(args) -> None:
    import json

    from tl_text.data import load_corpus
    from tl_text.models.transformer import TransformerClassifier
    from tl_text.training.transformer_fit import lr_find

    splits = load_corpus(args.corpus, data_dir=args.data_dir)
    train = splits.get("train") or next(iter(splits.values()))
    train = train.fraction(args.fraction)
    classifier = TransformerClassifier.from_pretrained(args.pretrained, train.label_names,
                                                       args.max_length, args.truncation)
    found = lr_find(classifier, train, args.out, args.batch_size, args.start_lr)
    print(json.dumps({"plot": str(args.out),
                      **{k: v for k, v in found.items() if k not in ("lrs", "losses")}}))


def _add_module_command(commands, name: str, module) -> None:
    """A sub-command whose module has `add_arguments` and `run_from_args`."""
    command = commands.add_parser(name, help=module.__doc__.split("\n")[0])
    module.add_arguments(command)
    command.set_defaults(run=module.run_from_args)


def build_parser() -> argparse.ArgumentParser:
    from tl_text.experiments import crossdomain, nsmc, transfer
    from tl_text.export import predict, serve

    parser = argparse.ArgumentParser(prog="tl-text", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="inspect corpora")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    desc = data_commands.add_parser("describe", help="counts, class balance, lengths, samples")
    desc.add_argument("source", help="corpus name (imdb, nsmc, amazon, blitzer, books, dvd, "
                                     "electronics, kitchen) or a file/folder path")
    add_data_dir(desc)
    desc.add_argument("--samples", type=int, default=2, help="sample documents per split")
    desc.add_argument("--text-column", help="text column of a CSV/TSV/JSONL file")
    desc.add_argument("--label-column", help="label column of a CSV/TSV/JSONL file")
    desc.add_argument("--labels", type=lambda s: s.split(","),
                      help="allowed raw labels in class order, comma-separated")
    desc.add_argument("--skip-empty", action="store_true", help="drop empty documents")
    desc.set_defaults(run=_describe)

    for name, module in (("transfer", transfer), ("crossdomain", crossdomain), ("nsmc", nsmc)):
        _add_module_command(commands, name, module)

    finder = commands.add_parser("lr-find", help="learning-rate range test for a transformer "
                                                 "classifier (ktrain), plotted as PNG")
    finder.add_argument("corpus", nargs="?", default="imdb",
                        help="corpus name or file; its train split (or its only split) is used")
    finder.add_argument("--pretrained", default="minilm",
                        help="minilm (packaged), a Hugging Face folder, or a hub name")
    finder.add_argument("--fraction", type=fraction, default=0.05,
                        help="stratified share of the split to run on")
    finder.add_argument("--max-length", type=int, default=256)
    finder.add_argument("--truncation", choices=("head", "tail", "head+tail"),
                        default="head+tail")
    finder.add_argument("--batch-size", type=int, default=16)
    finder.add_argument("--start-lr", type=float, default=1e-7)
    finder.add_argument("--out", default="lr_find.png", help="where the PNG plot goes")
    add_data_dir(finder)
    finder.set_defaults(run=_lr_find)

    _add_module_command(commands, "predict", predict)
    _add_module_command(commands, "serve", serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `tl-text ARGV`; the exit status (2 for bad input or configuration)."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except TlTextError as err:
        print(f"tl-text: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

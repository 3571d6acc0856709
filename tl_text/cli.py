"""`tl-text`: the command line, on top of everything else (nothing imports it).

    tl-text data describe imdb --data-dir ../shared/data
    tl-text train imdb --fraction 0.05 --model finetune+nb-lr --out saved_models/imdb-best
    tl-text evaluate saved_models/imdb-best imdb
    tl-text transfer --fraction 0.05
    tl-text crossdomain --domains imdb,books,dvd,electronics,kitchen --model denil
    tl-text nsmc --arms nb-lr:char,kim:wordpiece
    tl-text lr-find imdb --pretrained minilm --fraction 0.05 --out lr_find.png
    tl-text export saved_models/imdb-minilm saved_models/imdb-minilm-tflite --format tflite
    tl-text predict --model saved_models/imdb-best "A wonderful film."
    tl-text serve --model-base-path saved_models/imdb-best --port 8501
    tl-text explain saved_models/imdb-best "A wonderful film." --html why.html

Experiment and train options come from the fields of their config dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from tl_text.errors import TlTextError

# --- option types ---------------------------------------------------------------------------

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


def count(text: str) -> int:
    """argparse type: a whole number, 0 or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def names(text: str) -> list[str]:
    """argparse type: comma-separated names."""
    return [name.strip() for name in text.split(",") if name.strip()]


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data root (default: $TL_TEXT_DATA)")


# --- options from config dataclasses --------------------------------------------------------

def add_config_options(parser: argparse.ArgumentParser, config_class,
                       flags: dict[str, str] | None = None, skip: tuple[str, ...] = ()) -> None:
    """One option per field of `config_class` but `skip` (`--field-name`, or `flags[name]`,
    or the field's metadata "flag"), typed by its annotation, with the metadata's help and
    choices; a "positional" field becomes an argument. Defaults are the dataclass's."""
    hints = typing.get_type_hints(config_class)
    defaults = config_class()
    inherited = {f.name: base for base in config_class.__mro__[1:]
                 if dataclasses.is_dataclass(base) for f in dataclasses.fields(base)}
    groups = {base: parser.add_argument_group(f"{base.__name__} ({base.__doc__.splitlines()[0]})")
              for base in dict.fromkeys(inherited.values())}
    own = [f for f in dataclasses.fields(config_class) if f.name not in inherited]
    for f in own + [f for f in dataclasses.fields(config_class) if f.name in inherited]:
        if f.name in skip:
            continue
        meta = f.metadata
        target = groups[inherited[f.name]] if f.name in inherited else parser
        default = getattr(defaults, f.name)
        help_text = meta.get("help", "")
        if meta.get("positional"):
            target.add_argument(f.name, help=help_text)
            continue
        flag = (flags or {}).get(f.name) or meta.get("flag") or f"--{f.name.replace('_', '-')}"
        kwargs = {"dest": f.name, "default": default, "help": help_text}
        kind = hints[f.name]
        if kind is bool:
            kwargs["action"] = "store_true"
            kwargs.pop("default")
        else:
            kwargs["type"] = _option_type(f.name, kind, meta)
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            if meta.get("required"):
                kwargs["required"] = True
            if f.name == "verbose":
                kwargs["default"] = 1 if sys.stdout.isatty() else default or 2
        target.add_argument(flag, **kwargs)


def _option_type(name: str, kind, meta):
    if kind in (list[float], list[float] | None):
        return fractions
    if kind in (list[str], list[str] | None):
        return names
    if kind is float and (meta.get("fraction") or name.endswith("fraction")):
        return fraction
    if kind is int:
        return int
    if kind in (float, float | None):
        return float
    return str


def config_from_args(config_class, args: argparse.Namespace):
    """An instance of `config_class` from the parsed options of `add_config_options`."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    return config_class(**{k: v for k, v in vars(args).items() if k in fields})


# --- commands -------------------------------------------------------------------------------

def _describe(args) -> None:
    from tl_text.data import describe, load_corpus

    splits = load_corpus(args.source, data_dir=args.data_dir, skip_empty=args.skip_empty,
                         unlabelled=True, **_table_options(args))
    print(describe(splits, samples=args.samples))


def _evaluate(args) -> None:
    from pathlib import Path

    from tl_text.data import load_corpus
    from tl_text.evaluation import evaluate, format_evaluation, write_evaluation
    from tl_text.export.savedmodel import load_exported

    model = load_exported(args.model)
    splits = load_corpus(args.data, data_dir=args.data_dir, skip_empty=args.skip_empty,
                         **_table_options(args))
    split = args.split or ("test" if "test" in splits else next(iter(splits)))
    if split not in splits:
        raise TlTextError(f"{args.data} has no split {split!r} (splits: {sorted(splits)})")
    result = evaluate(model, splits[split], batch_size=args.batch_size)
    print(format_evaluation(result))
    out = Path(args.out or Path("runs") / "evaluate" / Path(args.model).name)
    for path in write_evaluation(result, out):
        print(f"wrote {path}")


def _export(args) -> None:
    from tl_text.classifiers import load_classifier
    from tl_text.classifiers.transformer import TransformerTextClassifier
    from tl_text.export.tflite import export_tflite

    classifier = load_classifier(args.model)
    if not isinstance(classifier, TransformerTextClassifier):
        raise TlTextError(f"{args.model} holds a {type(classifier).__name__}: the TFLite "
                          f"export is for fine-tuned transformer classifiers")
    folder = export_tflite(classifier.network_, args.out, version=args.version,
                           quantize=not args.float32, metadata={
                               "exported_from": classifier.saved_to_,
                               "fit_info": classifier.fit_info_})
    print(f"wrote {folder}")


def _lr_find(args) -> None:
    import json

    from tl_text.data import load_corpus
    from tl_text.errors import ConfigError
    from tl_text.models.transformer import TransformerClassifier
    from tl_text.training.transformer_fit import lr_find

    splits = load_corpus(args.corpus, data_dir=args.data_dir)
    train = splits.get("train") or next(iter(splits.values()))
    train = train.fraction(args.fraction)
    if len(train) == 0 or len(set(train.labels.tolist())) < 2:
        raise ConfigError(f"lr-find needs documents of at least two classes; {train.name} "
                          f"has {train.class_counts()}")
    classifier = TransformerClassifier.from_pretrained(args.pretrained, train.label_names,
                                                       args.max_length, args.truncation)
    found = lr_find(classifier, train, args.out, args.batch_size, args.start_lr)
    print(json.dumps({"plot": str(args.out),
                      **{k: v for k, v in found.items() if k not in ("lrs", "losses")}}))


def _experiment(module_name: str, config_name: str):
    """A command runner: the config from the options, then the module's `run(config)`."""
    def run(args):
        import importlib

        module = importlib.import_module(module_name)
        config_class = getattr(module, config_name)
        return module.run(config_from_args(config_class, args))
    return run


def _table_options(args) -> dict:
    return {"text_column": args.text_column, "label_column": args.label_column,
            "labels": args.labels}


def _add_table_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-column", help="text column of a CSV/TSV/JSONL file")
    parser.add_argument("--label-column", help="label column of a CSV/TSV/JSONL file")
    parser.add_argument("--labels", type=names,
                        help="allowed raw labels in class order, comma-separated")


def build_parser() -> argparse.ArgumentParser:
    from tl_text.experiments.crossdomain import CrossDomainConfig
    from tl_text.experiments.nsmc import NsmcConfig
    from tl_text.experiments.train import TrainConfig
    from tl_text.experiments.transfer import TransferConfig
    from tl_text.export import explain, predict, serve

    parser = argparse.ArgumentParser(prog="tl-text", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="inspect corpora")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    desc = data_commands.add_parser("describe", help="counts, class balance, lengths, samples")
    desc.add_argument("source", help="corpus name (imdb, nsmc, amazon, amazon-classic, blitzer, "
                                     "books, dvd, electronics, kitchen) or a file/folder path")
    add_data_dir(desc)
    desc.add_argument("--samples", type=count, default=2, help="sample documents per split")
    _add_table_options(desc)
    desc.add_argument("--skip-empty", action="store_true", help="drop empty documents")
    desc.set_defaults(run=_describe)

    train = commands.add_parser("train", help="fit one arm on a corpus or file, evaluate it "
                                              "on held-out data, export it")
    add_config_options(train, TrainConfig, flags={"model": "--cnn"})
    train.set_defaults(run=_experiment(TrainConfig.__module__, "TrainConfig"))

    evaluation = commands.add_parser("evaluate", help="accuracy, macro-F1, per-class scores "
                                                      "and a confusion matrix of an export")
    evaluation.add_argument("model", help="export base path or version folder")
    evaluation.add_argument("data", help="corpus name or file (its test split, else its only "
                                         "split, unless --split)")
    evaluation.add_argument("--split", help="which split of DATA to score")
    evaluation.add_argument("--out", help="folder for evaluation.json and confusion_matrix.png "
                                          "(default runs/evaluate/MODEL)")
    evaluation.add_argument("--batch-size", type=int, default=256)
    evaluation.add_argument("--skip-empty", action="store_true", help="drop empty documents")
    _add_table_options(evaluation)
    add_data_dir(evaluation)
    evaluation.set_defaults(run=_evaluate)

    for name, config, skip in (("transfer", TransferConfig, ()),
                               ("crossdomain", CrossDomainConfig, ("model",)),
                               ("nsmc", NsmcConfig, ())):
        doc = sys.modules[config.__module__].__doc__
        command = commands.add_parser(name, help=doc.split("\n")[0])
        add_config_options(command, config, skip=skip)
        command.set_defaults(run=_experiment(config.__module__, config.__name__))

    export = commands.add_parser("export", help="convert a saved transformer classifier to "
                                                "an int8 TFLite model (tokenizer inside)")
    export.add_argument("model", help="the classifier's export (base path or version folder), "
                                      "as `tl-text train` writes it")
    export.add_argument("out", help="base path of the new export (a new numbered version)")
    export.add_argument("--format", choices=("tflite",), default="tflite",
                        help="tflite: dynamic-range int8 weights, run by `tl-text predict`")
    export.add_argument("--float32", action="store_true",
                        help="keep float32 weights (no int8 quantisation)")
    export.add_argument("--version", type=count, help="version number (default: next one)")
    export.set_defaults(run=_export)

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

    for name, module in (("predict", predict), ("serve", serve), ("explain", explain)):
        command = commands.add_parser(name, help=module.__doc__.split("\n")[0])
        module.add_arguments(command)
        command.set_defaults(run=module.run_from_args)
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

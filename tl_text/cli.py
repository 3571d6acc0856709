"""`tl-text`: the command line. Each sub-command lives with the code it runs.

    tl-text data describe imdb --data-dir ../shared/data
    tl-text transfer --fraction 0.05
    tl-text predict --model saved_models/imdb-kim "A wonderful film."
    tl-text serve --model-base-path saved_models/imdb-kim --port 8501
"""

from __future__ import annotations

import argparse
import sys

from tl_text.errors import TlTextError


def _describe(args) -> None:
    from tl_text.data import describe, load_corpus
    options = {k: v for k, v in (("text_column", args.text_column),
                                 ("label_column", args.label_column),
                                 ("labels", args.labels)) if v is not None}
    splits = load_corpus(args.source, data_dir=args.data_dir, skip_empty=args.skip_empty,
                         **options)
    print(describe(splits, samples=args.samples))


def build_parser() -> argparse.ArgumentParser:
    from tl_text.experiments import transfer
    from tl_text.export import predict, serve

    parser = argparse.ArgumentParser(prog="tl-text", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="inspect corpora")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    desc = data_commands.add_parser("describe", help="counts, class balance, lengths, samples")
    desc.add_argument("source", help="corpus name (imdb, nsmc, amazon, blitzer, books, dvd, "
                                     "electronics, kitchen) or a file/folder path")
    desc.add_argument("--data-dir", help="data root (default: $TL_TEXT_DATA)")
    desc.add_argument("--samples", type=int, default=2, help="sample documents per split")
    desc.add_argument("--text-column", help="text column of a CSV/TSV/JSONL file")
    desc.add_argument("--label-column", help="label column of a CSV/TSV/JSONL file")
    desc.add_argument("--labels", type=lambda s: s.split(","),
                      help="allowed raw labels in class order, comma-separated")
    desc.add_argument("--skip-empty", action="store_true", help="drop empty documents")
    desc.set_defaults(run=_describe)

    experiment = commands.add_parser("transfer", help=transfer.__doc__.split("\n")[0])
    transfer.add_arguments(experiment)
    experiment.set_defaults(run=transfer.run_from_args)

    classify = commands.add_parser("predict", help=predict.__doc__.split("\n")[0])
    predict.add_arguments(classify)
    classify.set_defaults(run=predict.run_from_args)

    server = commands.add_parser("serve", help=serve.__doc__.split("\n")[0])
    serve.add_arguments(server)
    server.set_defaults(run=serve.run_from_args)
    return parser


def main(argv: list[str] | None = None) -> int:
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

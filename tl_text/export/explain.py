"""Which words made an exported model decide as it did: occlusion through the raw-text signature,
so it works for every export (CNNs, NB-LR, ensembles, transformers).

    tl-text explain saved_models/imdb-best "A wonderful film, though the ending drags."
    tl-text explain saved_models/imdb-best "A wonderful film." --top 3 --html why.html

A word's contribution is how much the predicted class's probability falls when the word is
left out of the text (with `--window W`, the mean over the W-word windows that cover it):
positive words push toward the predicted class (green), negative ones against it (red). All
the occluded texts go to the model in one batched call.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tl_text.errors import ConfigError
from tl_text.export.predict import positive_int

if TYPE_CHECKING:
    from tl_text.export.savedmodel import ExportedModel

WORD = re.compile(r"\w+(?:['’]\w+)*")
ANSI = {"+": ("\033[32m", "\033[1;32m"), "-": ("\033[31m", "\033[1;31m")}
RESET = "\033[0m"


@dataclass
class Explanation:
    """The prediction for `text` and each word's contribution to it (`spans`: character
    offsets of the words in `text`)."""

    text: str
    label: str
    probability: float
    spans: list[tuple[int, int]]
    contributions: list[float]

    @property
    def words(self) -> list[str]:
        return [self.text[start:end] for start, end in self.spans]

    def top(self, n: int) -> list[tuple[str, float]]:
        """The `n` (word, contribution) pairs of largest contribution, most helpful first."""
        order = sorted(range(len(self.spans)), key=lambda i: -self.contributions[i])
        return [(self.words[i], self.contributions[i]) for i in order[:n]]

    def strongest(self, n: int) -> list[int]:
        """Indices of the `n` words of largest absolute contribution."""
        order = sorted(range(len(self.spans)), key=lambda i: -abs(self.contributions[i]))
        return order[:n]


def explain(model: "ExportedModel", text: str, window: int = 1,
            batch_size: int = 256) -> Explanation:
    """Occlusion contributions of each word of `text` to `model`'s predicted class. With
    `model = load_exported(path)` of an NB-LR trained on the Blitzer `books` reviews:

    >>> result = explain(model, "A wonderful book, beautifully written; the ending was dull.")
    >>> result.label, round(result.probability, 2)
    ('pos', 0.96)
    >>> [(word, round(value, 2)) for word, value in result.top(1)]
    [('wonderful', 0.41)]
    """
    if window < 1:
        raise ConfigError(f"window must be at least 1, got {window}")
    spans = [match.span() for match in WORD.finditer(text)]
    if not spans:
        raise ConfigError(f"no words to explain in {text[:60]!r}")
    starts = range(max(1, len(spans) - window + 1))
    windows = [spans[i:i + window] for i in starts]
    occluded = [text[:covered[0][0]] + text[covered[-1][1]:] for covered in windows]
    columns = model.predict_columns([text, *occluded], batch_size)
    probabilities = columns["probabilities"]
    label_id = columns["label_id"][0]
    full = probabilities[0][label_id]
    drops = [full - row[label_id] for row in probabilities[1:]]
    contributions = []
    for word in range(len(spans)):
        covering = [drops[i] for i in starts if i <= word < i + window]
        contributions.append(sum(covering) / len(covering))
    return Explanation(text, columns["label"][0], full, spans, contributions)


def highlight(result: Explanation, top: int, colour: bool) -> str:
    """`result.text` with its `top` strongest words marked: ANSI green (toward the predicted
    class) or red (against), bold for the strongest half; `[+word]` / `[-word]` without
    colour."""
    marked = set(result.strongest(top))
    largest = max((abs(result.contributions[i]) for i in marked), default=0.0)
    pieces, end = [], 0
    for i, (start, stop) in enumerate(result.spans):
        pieces.append(result.text[end:start])
        word, value = result.text[start:stop], result.contributions[i]
        if i in marked and value != 0:
            sign = "+" if value > 0 else "-"
            if colour:
                strong = abs(value) >= largest / 2
                word = f"{ANSI[sign][strong]}{word}{RESET}"
            else:
                word = f"[{sign}{word}]"
        pieces.append(word)
        end = stop
    pieces.append(result.text[end:])
    return "".join(pieces)


def report(result: Explanation, top: int, colour: bool) -> str:
    """What `tl-text explain` prints: the prediction, the highlighted text, the top words."""
    lines = [f"predicted {result.label} (p = {result.probability:.3f}); a word's contribution "
             f"is the fall in p when it is left out", "", highlight(result, top, colour), "",
             f"strongest {min(top, len(result.spans))} word(s):"]
    lines += [f"  {result.contributions[i]:+.4f}  {result.words[i]}"
              for i in result.strongest(top)]
    return "\n".join(lines)


def to_html(result: Explanation, model_name: str) -> str:
    """A self-contained HTML page: every word shaded by its contribution (green toward the
    predicted class, red against), its value shown on hover."""
    largest = max(map(abs, result.contributions)) or 1.0
    pieces, end = [], 0
    for (start, stop), value in zip(result.spans, result.contributions):
        pieces.append(html.escape(result.text[end:start]))
        alpha = abs(value) / largest * 0.8
        rgb = "40,160,60" if value > 0 else "220,50,50"
        pieces.append(f'<span style="background:rgba({rgb},{alpha:.3f})" '
                      f'title="{value:+.4f}">{html.escape(result.text[start:stop])}</span>')
        end = stop
    pieces.append(html.escape(result.text[end:]))
    title = html.escape(f"{model_name}: {result.label} (p = {result.probability:.3f})")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title></head>\n"
            f'<body style="font-family:sans-serif;max-width:50em;margin:2em auto">\n'
            f"<h1 style=\"font-size:1.2em\">{title}</h1>\n"
            f"<p>Shading: how much the probability of <b>{html.escape(result.label)}</b> "
            f"falls when the word is left out (green: the word supports it, red: it speaks "
            f"against it; hover for the value).</p>\n"
            f'<p style="line-height:1.8">{"".join(pieces)}</p>\n</body></html>\n')


# --- command line ----------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="export base path (its highest version is used) or a "
                                      "version folder")
    parser.add_argument("text", help="the text to explain")
    parser.add_argument("--top", type=positive_int, default=10,
                        help="how many of the strongest words to mark and list")
    parser.add_argument("--window", type=positive_int, default=1,
                        help="words left out together (contributions: mean over windows)")
    parser.add_argument("--html", help="also write the shaded text to this HTML file")


def run_from_args(args: argparse.Namespace) -> None:
    from tl_text.atomic import atomic_write, check_writable_folder
    from tl_text.export.savedmodel import load_exported  # TensorFlow: only when explaining

    if args.html is not None:
        html_path = Path(args.html).expanduser()
        if html_path.is_dir():
            raise ConfigError(f"--html {html_path} is a folder; give a file name")
        check_writable_folder(html_path.parent, "--html")
    model = load_exported(args.model)
    result = explain(model, args.text, args.window)
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print(report(result, args.top, colour))
    if args.html is not None:
        atomic_write(html_path, to_html(result, str(model.path)).encode("utf-8"))
        print(f"wrote {html_path}")


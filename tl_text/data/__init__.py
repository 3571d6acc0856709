"""Corpora → `TextDataset`s: IMDB, Amazon (fastText, polarity CSV, Blitzer), NSMC, any table."""

from tl_text.data.amazon import iter_fasttext, iter_polarity_csv, load_amazon, load_blitzer
from tl_text.data.corpora import NAMES, load_corpus
from tl_text.data.dataset import Example, TextDataset, concat
from tl_text.data.describe import describe
from tl_text.data.files import iter_records, load_table
from tl_text.data.imdb import iter_imdb, load_imdb
from tl_text.data.nsmc import load_nsmc
from tl_text.data.paths import DATA_ENV, data_root

__all__ = [
    "DATA_ENV", "Example", "NAMES", "TextDataset", "concat", "data_root", "describe",
    "iter_fasttext", "iter_imdb", "iter_polarity_csv", "iter_records", "load_amazon",
    "load_blitzer", "load_corpus", "load_imdb", "load_nsmc", "load_table",
]

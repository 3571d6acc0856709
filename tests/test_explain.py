"""`tl-text explain`: occlusion contributions through an export's raw-text signature."""

import doctest
import html

import pytest

from tl_text.cli import main
from tl_text.errors import ConfigError
from tl_text.export import explain as explain_module
from tl_text.export import load_exported
from tl_text.export.explain import explain

POSITIVE_WORDS = {"excellent", "wonderful", "beautifully", "loved", "highly", "recommended",
                  "best", "great"}
REVIEW = ("An excellent book. Beautifully written, and I loved every page of it; "
          "highly recommended to anyone who reads.")


@pytest.fixture(scope="session")
def nb_lr_export(data_dir, tmp_path_factory):
    """An NB-LR classifier trained on the 2,000 real Blitzer `books` reviews, exported."""
    from tl_text.classifiers.linear import NBLogisticRegression
    from tl_text.data import load_blitzer

    books = load_blitzer(data_dir / "amazon" / "multi_domain_sentiment_sorted_data_acl.tar.gz",
                         ["books"])["books"]
    base = tmp_path_factory.mktemp("explain") / "books-nb-lr"
    NBLogisticRegression().fit(books).export(base)
    return base


@pytest.fixture(scope="session")
def model(nb_lr_export):
    return load_exported(nb_lr_export)


def test_the_strongest_words_of_a_positive_review_are_positive(model):
    result = explain(model, REVIEW)
    assert result.label == "pos" and result.probability > 0.9
    assert len(result.contributions) == len(result.spans) == 18
    top = result.top(3)
    assert {word.lower() for word, _ in top} <= POSITIVE_WORDS, top
    assert all(value > 0 for _, value in top)


def test_windows_average_over_the_words_they_cover(model):
    single, windowed = explain(model, REVIEW), explain(model, REVIEW, window=3)
    assert windowed.spans == single.spans and windowed.contributions != single.contributions
    whole = explain(model, "Loved it.", window=5)  # one window covers every word
    column = model.label_names.index(whole.label)
    assert whole.contributions[0] == whole.contributions[1] == pytest.approx(
        whole.probability - model.predict(["."])[0]["probabilities"][column])


def test_texts_without_words_are_refused(model):
    with pytest.raises(ConfigError, match="no words to explain in '!!! ...'"):
        explain(model, "!!! ...")


def test_docstring_example_runs(model):
    results = doctest.testmod(explain_module, extraglobs={"model": model}, verbose=False)
    assert results.attempted == 3 and results.failed == 0


def test_cli_prints_marked_words_and_writes_html(nb_lr_export, tmp_path, capsys):
    page = tmp_path / "out" / "why.html"
    assert main(["explain", str(nb_lr_export), REVIEW, "--top", "2", "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("predicted pos (p = 0.9")
    assert "[+excellent]" in out and out.count("[+") == 2  # not a TTY: markers, not colours
    assert "\033[" not in out and f"wrote {page}" in out
    written = page.read_text(encoding="utf-8")
    assert written.startswith("<!DOCTYPE html>") and written.count("<span") == 18
    assert html.escape("recommended to anyone") not in written  # every word is its own span
    assert [p.name for p in page.parent.iterdir()] == ["why.html"]


def test_cli_colours_words_on_a_terminal(nb_lr_export, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["explain", str(nb_lr_export), "An excellent book, a dull ending."]) == 0
    out = capsys.readouterr().out
    assert "\033[1;32mexcellent\033[0m" in out and "\033[31mdull\033[0m" in out


def test_cli_bad_model_path_exits_2_and_writes_nothing(tmp_path, capsys):
    page = tmp_path / "why.html"
    assert main(["explain", str(tmp_path / "missing"), "Great.", "--html", str(page)]) == 2
    err = capsys.readouterr().err
    assert f"tl-text: error: {tmp_path / 'missing'} does not exist" in err
    assert not page.exists()

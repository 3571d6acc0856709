"""Source training streamed from the files: the same documents and vocabulary as in memory,
a hash-held-out validation part, shards that cover every document once, a CNN fit."""

import gzip
import itertools

import pytest

from tl_text.data import load_blitzer, load_corpus, load_table
from tl_text.data.stream import is_held_out, iter_documents
from tl_text.errors import ConfigError, DataError

pytestmark = pytest.mark.data
FASTTEXT = "amazon/amazon_polarity_test_head6459.ft.txt"
BLITZER = "amazon/multi_domain_sentiment_sorted_data_acl.tar.gz"
EARPHONES = "amazon/more/earphones/AllProductReviews.csv.gz"


@pytest.fixture(scope="module")
def fasttext_slice(data_dir, tmp_path_factory):
    """The first 800 Amazon polarity reviews, gzip-compressed."""
    path = tmp_path_factory.mktemp("stream") / "slice.ft.txt.gz"
    with open(data_dir / FASTTEXT, "rb") as src, gzip.open(path, "wb") as dst:
        dst.writelines(itertools.islice(src, 800))
    return path


def documents(dataset):
    return list(zip(dataset.texts, dataset.labels.tolist()))


def test_stream_gives_the_documents_of_the_in_memory_readers(data_dir, fasttext_slice):
    assert list(iter_documents([fasttext_slice])) == documents(
        load_corpus(str(fasttext_slice))["all"])
    blitzer = load_blitzer(data_dir / BLITZER, ["books"])["books"]
    streamed = [d for d in iter_documents([data_dir / BLITZER])
                if d[0] in set(blitzer.texts)]
    assert sorted(streamed) == sorted(documents(blitzer))
    stars = ["1", "2", "3", "4", "5"]
    table = dict(text_column="ReviewBody", label_column="ReviewStar", labels=stars,
                 skip_empty=True)
    assert list(iter_documents([data_dir / EARPHONES], **table)) == documents(
        load_table(data_dir / EARPHONES, **table))


def test_a_streamed_table_needs_its_labels_and_names_bad_ones(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="labels in class order"):
        next(iter_documents([data_dir / EARPHONES], text_column="ReviewBody",
                            label_column="ReviewStar"))
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "fine", "label": "pos"}\n{"text": "bad", "label": "meh"}\n')
    with pytest.raises(DataError, match=r"t.jsonl, line 2, field 'label': unknown label 'meh'"):
        list(iter_documents([path], labels=["neg", "pos"]))


def test_validation_is_held_out_by_hash_of_the_text(fasttext_slice):
    every = list(iter_documents([fasttext_slice]))
    train = list(iter_documents([fasttext_slice], "train", validation=0.2))
    valid = list(iter_documents([fasttext_slice], "valid", validation=0.2))
    assert sorted(train + valid) == sorted(every)
    assert not {t for t, _ in train} & {t for t, _ in valid}
    assert 0.15 < len(valid) / len(every) < 0.25
    assert all(is_held_out(text, 0.2) for text, _ in valid)


def test_the_stream_is_the_files_documents_in_order(fasttext_slice):
    from tl_text.training.stream import CHUNK, stream_documents

    part = list(iter_documents([fasttext_slice], "train"))
    assert len(part) > CHUNK  # the reader hands tf.data several chunks
    streamed = stream_documents([fasttext_slice]).as_numpy_iterator()
    assert [(text.decode(), int(label)) for text, label in streamed] == part


def test_two_shards_cover_every_document_exactly_once(fasttext_slice):
    import tensorflow as tf

    from tl_text.training.stream import stream_batches

    part = list(iter_documents([fasttext_slice], "train"))
    shards = []
    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                             num_replicas_in_sync=2)
        batches = stream_batches([fasttext_slice], "train", batch_size=64, shuffle_buffer=100,
                                 input_context=context)
        shards.append([(t.decode(), int(y)) for texts, labels in batches
                       for t, y in zip(texts.numpy(), labels.numpy())])
        assert len(next(iter(batches))[0]) == 32  # the global batch split over the replicas
    assert sorted(shards[0]) == sorted(part[0::2])
    assert sorted(shards[1]) == sorted(part[1::2])


def test_streamed_vocabulary_equals_the_in_memory_one(fasttext_slice):
    from tl_text.models import make_vectorizer, vocabulary
    from tl_text.training.stream import stream_vocabulary

    texts = [text for text, _ in iter_documents([fasttext_slice], "train")]
    for max_tokens in (1_000, 30_000):
        assert stream_vocabulary([fasttext_slice], max_tokens) == vocabulary(
            make_vectorizer(texts, max_tokens))


def test_cnn_trains_from_the_stream(fasttext_slice):
    from tl_text.classifiers import CNNClassifier

    clf = CNNClassifier("kim", vectors=None, embedding_dim=16, max_tokens=3_000,
                        sequence_length=120, epochs=2, min_epochs=2, batch_size=32,
                        validation=0.2).fit_stream([fasttext_slice])
    valid = list(iter_documents([fasttext_slice], "valid", validation=0.2))
    assert clf.label_names_ == ("neg", "pos")
    assert clf.predict_proba([t for t, _ in valid]).shape == (len(valid), 2)
    assert clf.fit_info_["epochs"] in (1, 2)
    assert 0 <= clf.fit_info_["validation_accuracy"] <= 1
    assert len(clf.vocabulary_) == 3_000


def test_tl_text_train_streams_a_source_file(data_dir, fasttext_slice, tmp_path, capsys):
    import json

    from tl_text.cli import main

    test = tmp_path / "held_out.ft.txt"
    with open(data_dir / FASTTEXT, "rb") as src:
        test.write_bytes(b"".join(itertools.islice(src, 800, 1000)))
    out = tmp_path / "model"
    options = ["--model", "kim", "--epochs", "1", "--min-epochs", "1", "--sequence-length", "60"]
    assert main(["train", str(fasttext_slice), "--stream", *options, "--out", str(out)]) == 2
    assert "with --test" in capsys.readouterr().err
    code = main(["train", str(fasttext_slice), "--stream", "--test", str(test), *options,
                 "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "streamed from" in printed.out
    metadata = json.loads((out / "1" / "metadata.json").read_text())
    assert metadata["training_data"] == {"name": str(fasttext_slice), "streamed": True}
    assert metadata["metrics"]["documents"] == 200 and metadata["labels"] == ["neg", "pos"]

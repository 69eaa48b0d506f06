"""`python -m coqa.tools.tiny`: write a tiny randomly initialised BERT folder for demos and tests.

The vocabulary is the special tokens plus every character of the given data files, so a
model trained from scratch on `data/sample` needs nothing downloaded. The folder has the
layout of any local checkpoint: config.json, vocab.txt, tokenizer files, model.safetensors.
"""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

from coqa.cli import OneLineParser, UsageError, exit_on_bad_input, setup_logging
from coqa.data.readers import load_dialogues

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True)
class TinyBertConfig:
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 128
    max_position_embeddings: int = 512
    dropout: float = 0.1  # hidden and attention dropout (0: deterministic runs, faster steps)
    seed: int = 0


def build_vocab(texts: Iterable[str]) -> list[str]:
    """Special tokens, then every character, then every word of two or more characters
    that BERT's pre-tokenizer keeps whole (numbers such as "12", Latin words), each group
    by descending frequency (ties by code point).

    BERT splits Chinese text into characters but keeps a run of digits or letters as one
    word, and a word missing from the vocabulary becomes one [UNK]: without the words,
    every age or year of the data would be [UNK] and no model could read or answer it.
    Lower-cased, as the BERT tokenizer lower-cases before looking tokens up."""
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    normalize = BertNormalizer(handle_chinese_chars=True, strip_accents=None,
                               lowercase=True).normalize_str
    split = BertPreTokenizer().pre_tokenize_str
    chars, words = Counter(), Counter()
    for text in texts:
        for word, _ in split(normalize(text)):
            chars.update(word)
            if len(word) > 1:
                words[word] += 1
    ordered = [sorted(group, key=lambda token: (-group[token], token)) for group in (chars, words)]
    return list(SPECIAL_TOKENS) + ordered[0] + [word for word in ordered[1] if word not in chars]


def write_tiny_bert(out_dir: str | Path, texts: Iterable[str],
                    config: TinyBertConfig = TinyBertConfig()) -> Path:
    """Write a complete random-weight BERT folder; returns its path."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(texts)
    # A tokenizer.json left by an earlier call would win over the new vocab.txt.
    (out_dir / "tokenizer.json").unlink(missing_ok=True)
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast.from_pretrained(str(out_dir), do_lower_case=True)
    tokenizer.save_pretrained(str(out_dir))
    bert_config = BertConfig(vocab_size=len(vocab), hidden_size=config.hidden_size,
                             num_hidden_layers=config.num_hidden_layers,
                             num_attention_heads=config.num_attention_heads,
                             intermediate_size=config.intermediate_size,
                             max_position_embeddings=config.max_position_embeddings,
                             hidden_dropout_prob=config.dropout,
                             attention_probs_dropout_prob=config.dropout, pad_token_id=0)
    torch.manual_seed(config.seed)
    # With the masked-LM head, so the same folder serves run_coqa.py and run_seq2seq.py.
    BertForMaskedLM(bert_config).save_pretrained(str(out_dir))
    return out_dir


def dialogue_texts(paths: Sequence[str]) -> Iterable[str]:
    for path in paths:
        for dialogue in load_dialogues(path).dialogues:
            yield dialogue.passage
            for turn in dialogue.turns:
                yield turn.question
                yield from turn.answers


@exit_on_bad_input
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = OneLineParser(prog="python -m coqa.tools.tiny", description=__doc__)
    parser.add_argument("--data", nargs="+", required=True, help="files whose characters form the vocab")
    parser.add_argument("--out", required=True, help="folder to write")
    parser.add_argument("--hidden_size", type=int, default=TinyBertConfig.hidden_size, help="hidden size")
    parser.add_argument("--layers", type=int, default=TinyBertConfig.num_hidden_layers, help="layers")
    parser.add_argument("--dropout", type=float, default=TinyBertConfig.dropout,
                        help="hidden and attention dropout")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the contents of a non-empty --out folder")
    args = parser.parse_args(argv)
    setup_logging()
    out_dir = Path(args.out)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not args.overwrite:
        raise UsageError(f"--out {out_dir} is not empty (it may hold a trained model); "
                         f"pass --overwrite to replace it")
    config = TinyBertConfig(hidden_size=args.hidden_size, num_hidden_layers=args.layers,
                            intermediate_size=2 * args.hidden_size, dropout=args.dropout)
    out = write_tiny_bert(args.out, dialogue_texts(args.data), config)
    print(f"Wrote a tiny BERT ({config}) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

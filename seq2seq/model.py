"""UniLM-style sequence-to-sequence model: one BERT encoder with its masked-LM head.

The source and the target share one Transformer; what makes it a sequence-to-sequence
model is the attention mask (`seq2seq.masks`). Training follows s2s-ft's default objective
("pseudo" mask way): the input is `[source | target | pseudo]`, pseudo token j is [MASK]
(80%), a random token (10%) or the true target token j (10%), sits at the position of
target token j, sees the source, the targets before j and itself, and its output predicts
target token j. Nothing attends to pseudo tokens, so one pass trains every target
position. The "teacher_forcing" mask way is plain left-to-right training on
`[source | target]`: the output at target j-1 (at the source's last real token, its [SEP],
for j = 0) predicts target j.

Positions: source token i is at position i; target token j (and pseudo token j) at
position `n_source + j`, n_source being the number of real source tokens, so padding never
shifts a target. Token types: `source_type_id` / `target_type_id` (the encoder config's
fields of those names when present, else 0/1 for two token types, 4/5 for UniLM v1's six,
0/0 for one).

Batch keys for training, `model(**batch)`, every tensor right-padded:
  source_ids  (batch, src_len) long   [CLS] source [SEP]
  source_mask (batch, src_len)        1 real, 0 padding
  target_ids  (batch, tgt_len) long   answer [SEP]
  target_mask (batch, tgt_len)        1 real, 0 padding
  pseudo_ids  (batch, tgt_len) long   optional; drawn each call in training mode, all
                                      [MASK] in eval mode when absent (run_seq2seq.py
                                      passes them: `keyed_pseudo_ids`)
`forward` returns {"loss": () mean label-smoothed loss per real target token,
"logits": (batch, tgt_len, vocab), row j predicting target token j, 0 on padding; in
eval mode only}.

Checkpoints: a folder with config.json and model.safetensors (transformers format, so
`BertForMaskedLM.from_pretrained` reads it too) or a legacy / s2s-ft pytorch_model.bin
(`seq2seq.weights` reads and checks them). `save` adds seq2seq_config.json; `load` reads
all three back, and reads an s2s-ft `ckpt-N` folder (config.json and pytorch_model.bin
only) with the settings s2s-ft trains with: `load(directory, fallback=Seq2SeqConfig(...))`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from transformers import BertConfig, BertForMaskedLM

from coqa.data.errors import ConfigError
from coqa.data.files import writing_weights
from coqa.data.folders import position_offset
from seq2seq.masks import additive_mask, pseudo_layout_allowed, teacher_forcing_allowed
from seq2seq.weights import (ENCODER_CONFIG_NAME, IGNORED_KEYS, TIED_KEYS, WEIGHTS_NAME,
                             bert_config_of, from_roberta, load_checked, normalize_state_dict,
                             read_state_dict)

logger = logging.getLogger(__name__)

MASK_WAYS = ("pseudo", "teacher_forcing")
SEQ2SEQ_CONFIG_NAME = "seq2seq_config.json"
ATTN_IMPLEMENTATION = "sdpa"
# Default type ids by the encoder's type_vocab_size (UniLM v1 uses six token types).
DEFAULT_TYPE_IDS = {1: (0, 0), 2: (0, 1), 6: (4, 5)}


@dataclass(frozen=True)
class Seq2SeqConfig:
    """What the sequence-to-sequence model adds to the encoder's own config.

    The special ids default to bert-base-chinese's vocabulary ([SEP] 102, [MASK] 103);
    the entry script sets them from the tokenizer. `source_type_id` / `target_type_id`
    None means: take them from the encoder config (see the module docstring)."""

    max_source_length: int = 464
    max_target_length: int = 48
    mask_way: str = "pseudo"
    label_smoothing: float = 0.1
    keep_prob: float = 0.1          # pseudo token = the true target token
    random_prob: float = 0.1        # pseudo token = a uniformly random token
    mask_token_id: int = 103
    sep_token_id: int = 102
    source_type_id: Optional[int] = None
    target_type_id: Optional[int] = None

    def __post_init__(self):
        if self.mask_way not in MASK_WAYS:
            raise ConfigError(f"mask_way must be one of {MASK_WAYS}, got {self.mask_way!r}")
        if self.max_source_length < 2 or self.max_target_length < 1:
            raise ConfigError("max_source_length must be at least 2, max_target_length at least 1")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if min(self.keep_prob, self.random_prob) < 0 or self.keep_prob + self.random_prob > 1:
            raise ConfigError("keep_prob and random_prob must be >= 0 with a sum of at most 1")

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "Seq2SeqConfig":
        """Build from a JSON object, refusing unknown keys (a typo must not be ignored)."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"{source}: unknown seq2seq config keys {unknown}")
        return cls(**values)


def resolve_type_ids(encoder_config: BertConfig, config: Seq2SeqConfig) -> Tuple[int, int]:
    """(source_type_id, target_type_id): the Seq2SeqConfig's, else the encoder config's
    fields of those names, else the default for its type_vocab_size."""
    types = encoder_config.type_vocab_size
    source = config.source_type_id
    target = config.target_type_id
    if source is None:
        source = getattr(encoder_config, "source_type_id", None)
    if target is None:
        target = getattr(encoder_config, "target_type_id", None)
    if source is None or target is None:
        if types not in DEFAULT_TYPE_IDS:
            raise ConfigError(f"type_vocab_size {types} has no default source/target type ids; "
                             "set source_type_id and target_type_id")
        source = DEFAULT_TYPE_IDS[types][0] if source is None else source
        target = DEFAULT_TYPE_IDS[types][1] if target is None else target
    if not (0 <= source < types and 0 <= target < types):
        raise ConfigError(f"type ids {source}/{target} out of range for type_vocab_size {types}")
    return source, target


def extend_position_embeddings(mlm: BertForMaskedLM, length: int) -> bool:
    """Grow the position table to `length` rows when it is shorter, as s2s-ft does: row i
    of the new table is pretrained row i % old_length. Updates the config. Returns whether
    the table was extended."""
    embeddings = mlm.bert.embeddings
    old = embeddings.position_embeddings.weight
    old_length = old.shape[0]
    if length <= old_length:
        return False
    table = nn.Embedding(length, old.shape[1], device=old.device, dtype=old.dtype)
    with torch.no_grad():
        rows = torch.arange(length, device=old.device) % old_length
        table.weight.copy_(old[rows])
    embeddings.position_embeddings = table
    embeddings.position_ids = torch.arange(length, device=old.device).expand((1, -1))
    embeddings.token_type_ids = torch.zeros((1, length), dtype=torch.long, device=old.device)
    mlm.config.max_position_embeddings = length
    return True


def draw_pseudo_ids(target_ids: torch.Tensor, target_mask: torch.Tensor, mask_token_id: int,
                    vocab_size: int, keep_prob: float, random_prob: float, pad_token_id: int = 0,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """(batch, tgt_len) -> (batch, tgt_len) pseudo tokens: the true token with probability
    keep_prob, a uniformly random token with probability random_prob, else [MASK];
    padding positions get the padding id."""
    device = target_ids.device
    draw = torch.rand(target_ids.shape, device=device, generator=generator)
    random_ids = torch.randint(0, vocab_size, target_ids.shape, device=device,
                               generator=generator)
    return _pseudo_from_draws(target_ids, target_mask, draw, random_ids, mask_token_id,
                              keep_prob, random_prob, pad_token_id)


def keyed_pseudo_ids(target_ids: torch.Tensor, target_mask: torch.Tensor,
                     keys: Sequence[Sequence[int]], mask_token_id: int, vocab_size: int,
                     keep_prob: float, random_prob: float, pad_token_id: int = 0) -> torch.Tensor:
    """`draw_pseudo_ids` with one generator per row, seeded from that row's key, e.g.
    (seed, epoch, example index), drawing for the row's real (left-aligned) tokens only.
    An example's pseudo tokens then depend neither on the batch it shares, its padding, the
    rank drawing it nor the global random state.
    (batch, tgt_len), (batch, tgt_len), batch keys of non-negative ints -> (batch, tgt_len)"""
    draw = torch.ones(target_ids.shape, device=target_ids.device)  # padding: [MASK], then pad
    random_ids = torch.zeros_like(target_ids)
    for row, (key, length) in enumerate(zip(keys, target_mask.sum(dim=1).tolist())):
        # SeedSequence mixes the key's integers into a well-spread 64-bit seed.
        seed = int(np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0])
        generator = torch.Generator(device=target_ids.device).manual_seed(seed)
        draw[row, :length] = torch.rand(length, device=draw.device, generator=generator)
        random_ids[row, :length] = torch.randint(0, vocab_size, (length,), device=draw.device,
                                                 generator=generator)
    return _pseudo_from_draws(target_ids, target_mask, draw, random_ids, mask_token_id,
                              keep_prob, random_prob, pad_token_id)


def _pseudo_from_draws(target_ids: torch.Tensor, target_mask: torch.Tensor, draw: torch.Tensor,
                       random_ids: torch.Tensor, mask_token_id: int, keep_prob: float,
                       random_prob: float, pad_token_id: int) -> torch.Tensor:
    """Pseudo tokens from uniform draws in [0, 1) and random ids, all (batch, tgt_len)."""
    pseudo = torch.where(draw < keep_prob + random_prob, random_ids,
                         torch.full_like(target_ids, mask_token_id))
    pseudo = torch.where(draw < keep_prob, target_ids, pseudo)
    return pseudo.masked_fill(~target_mask.bool(), pad_token_id)


def label_smoothed_loss(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                        smoothing: float, pad_token_id: int) -> torch.Tensor:
    """Mean over real target tokens of KL(p || softmax(logits)), p being the smoothed
    one-hot of s2s-ft: 1 - ε on the label, 0 on padding, ε / (vocab - 2) on every other
    token. Written in closed form (Σ p log p is a constant) so that p is never built.
    (..., vocab), (...), (...) -> (), e.g. (batch, tgt_len, vocab) or (n_tokens, vocab)"""
    vocab = logits.shape[-1]
    log_q = logits.float().log_softmax(dim=-1)  # (batch, tgt_len, vocab)
    gold = log_q.gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # (batch, tgt_len)
    other = smoothing / (vocab - 2)
    others = log_q.sum(-1) - log_q[..., pad_token_id] - gold  # (batch, tgt_len)
    entropy = _xlogx(1.0 - smoothing) + smoothing * math.log(other) if smoothing > 0 else 0.0
    per_token = entropy - (1.0 - smoothing) * gold - other * others  # (batch, tgt_len)
    real = mask.to(per_token.dtype)
    return (per_token * real).sum() / real.sum().clamp(min=1.0)


def _xlogx(x: float) -> float:
    return x * math.log(x) if x > 0 else 0.0


class Seq2SeqModel(nn.Module):
    """BertForMaskedLM (word embeddings tied to the output layer) under UniLM masks."""

    def __init__(self, mlm: BertForMaskedLM, config: Seq2SeqConfig):
        super().__init__()
        self.mlm = mlm
        self.config = config
        vocab = mlm.config.vocab_size
        for name in ("mask_token_id", "sep_token_id"):
            if not 0 <= getattr(config, name) < vocab:
                raise ConfigError(f"{name} {getattr(config, name)} is outside the vocabulary "
                                 f"({vocab} tokens)")
        self.source_type_id, self.target_type_id = resolve_type_ids(mlm.config, config)
        self.pad_token_id = mlm.config.pad_token_id or 0
        old_length = mlm.config.max_position_embeddings
        needed = config.max_source_length + config.max_target_length
        if extend_position_embeddings(mlm, needed):
            logger.info("Position table grown from %d to %d rows (source %d + target %d tokens); "
                        "new row i copies row i %% %d, as s2s-ft does", old_length, needed,
                        config.max_source_length, config.max_target_length, old_length)

    @classmethod
    def from_encoder_config(cls, encoder_config: BertConfig, config: Seq2SeqConfig,
                            attn_implementation: str = ATTN_IMPLEMENTATION) -> "Seq2SeqModel":
        """A randomly initialised model of the shape `encoder_config` describes."""
        mlm = BertForMaskedLM._from_config(encoder_config, attn_implementation=attn_implementation)
        return cls(mlm, config)

    @classmethod
    def from_pretrained(cls, directory: Union[str, Path], config: Seq2SeqConfig,
                        attn_implementation: str = ATTN_IMPLEMENTATION,
                        config_file: Optional[Union[str, Path]] = None,
                        new_head: bool = False) -> "Seq2SeqModel":
        """Encoder and masked-LM head from a local folder: config.json (or `config_file`)
        plus model.safetensors or a (possibly legacy) pytorch_model.bin. `new_head`: an
        encoder-only checkpoint gets a new masked-LM head (`weights.load_checked`)."""
        directory = Path(directory)
        config_path = Path(config_file) if config_file else directory / ENCODER_CONFIG_NAME
        if not config_path.is_file():
            raise FileNotFoundError(f"{directory}: no {ENCODER_CONFIG_NAME} (models are loaded "
                                    "from local folders only)" if not config_file
                                    else f"config file {config_file} does not exist")
        values = json.loads(config_path.read_text(encoding="utf-8"))
        encoder_config = bert_config_of(values)
        mlm = BertForMaskedLM._from_config(encoder_config, attn_implementation=attn_implementation)
        state = read_state_dict(directory)
        offset = position_offset(values)
        if offset:  # a RoBERTa / XLM-R folder, read as BERT
            state = from_roberta(state, offset)
        state = normalize_state_dict(state)
        load_checked(mlm, state, directory, new_head)
        return cls(mlm, config)

    def save(self, directory: Union[str, Path]) -> None:
        """Write model.safetensors (without the tied output weights), config.json and
        seq2seq_config.json (with the type ids in use)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {key: tensor.detach().contiguous() for key, tensor in self.mlm.state_dict().items()
                 if key not in TIED_KEYS and key not in IGNORED_KEYS}
        with writing_weights(directory / WEIGHTS_NAME):  # mode; disk full: an OSError
            save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
        self.mlm.config.save_pretrained(directory)
        values = dataclasses.asdict(dataclasses.replace(
            self.config, source_type_id=self.source_type_id, target_type_id=self.target_type_id))
        (directory / SEQ2SEQ_CONFIG_NAME).write_text(json.dumps(values, indent=2) + "\n",
                                                     encoding="utf-8")

    @classmethod
    def load(cls, directory: Union[str, Path], map_location: Union[str, torch.device] = "cpu",
             attn_implementation: str = ATTN_IMPLEMENTATION,
             fallback: Optional[Seq2SeqConfig] = None,
             config_file: Optional[Union[str, Path]] = None) -> "Seq2SeqModel":
        """Rebuild a model written by `save`; a folder without seq2seq_config.json (an
        s2s-ft checkpoint) is read with `fallback`, refused when that is None."""
        path = Path(directory) / SEQ2SEQ_CONFIG_NAME
        if path.is_file():
            config = Seq2SeqConfig.from_dict(json.loads(path.read_text(encoding="utf-8")),
                                             str(path))
        elif fallback is not None:
            config = fallback
            logger.info("%s has no %s: read as an s2s-ft checkpoint with %s", directory,
                        SEQ2SEQ_CONFIG_NAME, fallback)
        else:
            raise FileNotFoundError(f"{directory}: not a Seq2SeqModel checkpoint (no "
                                    f"{SEQ2SEQ_CONFIG_NAME})")
        return cls.from_pretrained(directory, config, attn_implementation,
                                   config_file).to(map_location)

    @staticmethod
    def head_parameter(name: str) -> bool:
        """Whether a parameter (named as by `named_parameters`) belongs to the masked-LM
        head's transform or bias (new when the checkpoint is an encoder only); the output
        weight is the word-embedding matrix, named under the encoder. These train at
        --head_learning_rate when it is given."""
        return name.startswith("mlm.cls.")

    @property
    def vocab_size(self) -> int:
        return self.mlm.config.vocab_size

    def lm_head(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., hidden) -> (..., vocab) masked-LM logits."""
        return self.mlm.cls(hidden)

    def layout_inputs(self, source_ids: torch.Tensor, source_mask: torch.Tensor,
                      target_ids: torch.Tensor, target_mask: torch.Tensor,
                      pseudo_ids: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Encoder inputs of the training layout (`[source | target | pseudo]`, or
        `[source | target]` when pseudo_ids is None): input_ids, token_type_ids and
        position_ids (batch, L), attention_mask (batch, 1, L, L) additive."""
        src_len, tgt_len = source_ids.shape[1], target_ids.shape[1]
        if src_len + tgt_len > self.mlm.config.max_position_embeddings:
            raise ConfigError(f"source {src_len} + target {tgt_len} tokens exceed the "
                             f"{self.mlm.config.max_position_embeddings} positions")
        parts = [source_ids, target_ids] + ([] if pseudo_ids is None else [pseudo_ids])
        input_ids = torch.cat(parts, dim=1)  # (batch, L)
        source_positions = torch.arange(src_len, device=source_ids.device).expand_as(source_ids)
        n_source = source_mask.sum(dim=1, keepdim=True)  # (batch, 1)
        target_positions = n_source + torch.arange(tgt_len, device=target_ids.device)[None]
        positions = [source_positions] + [target_positions] * (len(parts) - 1)
        types = [torch.full_like(source_ids, self.source_type_id)] + \
            [torch.full_like(target_ids, self.target_type_id)] * (len(parts) - 1)
        allowed = (teacher_forcing_allowed if pseudo_ids is None else pseudo_layout_allowed)(
            source_mask, target_mask)  # (batch, L, L)
        return {"input_ids": input_ids, "token_type_ids": torch.cat(types, dim=1),
                "position_ids": torch.cat(positions, dim=1),
                "attention_mask": additive_mask(allowed, self.mlm.dtype)}

    def target_hidden(self, source_ids: torch.Tensor, source_mask: torch.Tensor,
                      target_ids: torch.Tensor, target_mask: torch.Tensor,
                      pseudo_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Final hidden states whose row j predicts target token j: the pseudo tokens'
        (pseudo mask way; all [MASK] when pseudo_ids is None), or the states one position
        before each target (teacher forcing; the source's last real token for j = 0).
        (batch, src_len), (batch, src_len), (batch, tgt_len), (batch, tgt_len)
        -> (batch, tgt_len, hidden)"""
        src_len, tgt_len = source_ids.shape[1], target_ids.shape[1]
        if self.config.mask_way == "pseudo" and pseudo_ids is None:
            pseudo_ids = torch.full_like(target_ids, self.config.mask_token_id).masked_fill(
                ~target_mask.bool(), self.pad_token_id)
        if self.config.mask_way == "teacher_forcing":
            pseudo_ids = None
        inputs = self.layout_inputs(source_ids, source_mask, target_ids, target_mask, pseudo_ids)
        hidden = self.mlm.bert(**inputs).last_hidden_state  # (batch, L, hidden)
        if pseudo_ids is not None:
            return hidden[:, src_len + tgt_len:]  # (batch, tgt_len, hidden)
        rows = src_len - 1 + torch.arange(tgt_len, device=hidden.device).expand_as(target_ids)
        rows = rows.clone()  # (batch, tgt_len): index of the state predicting target j
        rows[:, 0] = source_mask.sum(dim=1) - 1
        index = rows.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        return hidden.gather(1, index)  # (batch, tgt_len, hidden)

    def forward(self, source_ids: torch.Tensor, source_mask: torch.Tensor,
                target_ids: torch.Tensor, target_mask: torch.Tensor,
                pseudo_ids: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Label-smoothed loss of every real target token, one pass.
        source (batch, src_len), target (batch, tgt_len), pseudo_ids (batch, tgt_len) or
        None -> {"loss": (), "logits": (batch, tgt_len, vocab), rows of padding 0}; in
        training mode {"loss": ()} only (the training loop reads nothing else)"""
        if self.config.mask_way == "pseudo" and pseudo_ids is None and self.training:
            pseudo_ids = draw_pseudo_ids(target_ids, target_mask, self.config.mask_token_id,
                                         self.vocab_size, self.config.keep_prob,
                                         self.config.random_prob, self.pad_token_id)
        hidden = self.target_hidden(source_ids, source_mask, target_ids, target_mask,
                                    pseudo_ids)  # (batch, tgt_len, hidden)
        # The output layer only where a target token is: with a large vocabulary (250k
        # pieces) it costs as much as a third of the encoder, and answers are short.
        real = target_mask.bool()  # (batch, tgt_len)
        real_logits = self.lm_head(hidden[real])  # (n_real, vocab)
        loss = label_smoothed_loss(real_logits, target_ids[real], torch.ones_like(
            real_logits[:, 0]), self.config.label_smoothing, self.pad_token_id)
        if self.training:  # the loop reads the loss only: no (batch, tgt_len, vocab) copy
            return {"loss": loss}
        logits = real_logits.new_zeros(*target_ids.shape, real_logits.shape[-1])
        logits[real] = real_logits
        return {"loss": loss, "logits": logits}

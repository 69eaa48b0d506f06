"""UniLM-style sequence-to-sequence fine-tuning and decoding of free-form answers.

- `seq2seq.masks`: the attention masks of the training layouts;
- `seq2seq.model`: `Seq2SeqModel` (BERT encoder + masked-LM head), its loss and checkpoints;
- `seq2seq.decoding`: greedy / beam search with a key/value cache;
- `seq2seq.arguments`: the flags of run_seq2seq.py's two programs, and which one a command
  line runs; `seq2seq.fine_tune` and `seq2seq.decode`: those programs;
- `seq2seq.loading`: a trained model with the source settings it was trained with.

Nothing is imported here, so that `seq2seq.arguments` stays cheap to import (no torch).
"""

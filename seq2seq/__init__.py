"""UniLM-style sequence-to-sequence fine-tuning and decoding of free-form answers.

- `seq2seq.masks`: the attention masks of the training layouts;
- `seq2seq.model`: `Seq2SeqModel` (BERT encoder + masked-LM head), its loss and checkpoints;
- `seq2seq.decoding`: greedy / beam search with a key/value cache.

Nothing is imported here, so that `seq2seq.arguments` stays cheap to import.
"""

"""The --cache_dir help of both scripts names where caches really go without the flag
(coqa.data.cache.choose_cache_dir): next to the data file, or, when decoding, next to
--output_file; it once said 'data_dir', a flag most command lines never give."""
from __future__ import annotations

from coqa.extractive.arguments import build_parser
from seq2seq.arguments import decode_parser, fine_tune_parser


def _cache_help(parser) -> str:
    (action,) = [a for a in parser._actions if "--cache_dir" in a.option_strings]
    return action.help


def test_extractive_cache_dir_help_names_the_data_files_folder():
    text = _cache_help(build_parser())
    assert "data file's folder" in text and "OUTPUT_DIR/cache" in text
    assert "data_dir" not in text


def test_seq2seq_cache_dir_help_names_train_file_and_output_file():
    for parser in (fine_tune_parser(), decode_parser()):
        text = _cache_help(parser)
        assert "--train_file" in text and "--output_file" in text

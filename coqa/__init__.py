"""Chinese conversational QA, in layers: coqa.data (dialogues, history, windows, cache)
and coqa.train (the loop) are shared and know no model; coqa.extractive is the extractive
model; coqa.tools the python -m commands; coqa.cli what both entry scripts share."""

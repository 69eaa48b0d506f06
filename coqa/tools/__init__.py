"""Command-line tools: python -m coqa.tools.<validate|convert|synthetic|tiny|baseline|import_e5>,
and python -m coqa.tools.sweep (one run per seed)."""

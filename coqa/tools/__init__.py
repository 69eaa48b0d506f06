"""Command-line tools: python -m coqa.tools.<validate|convert|synthetic|tiny|baseline>."""

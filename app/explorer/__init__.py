"""The explorer's pages and helpers, one job per module (see app/main.py)."""

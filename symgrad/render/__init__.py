"""Renderers: the derivation as lecture notes (LaTeX, Markdown), terminal text and code."""

"""Experiments that answer "did transfer help?": each writes a table, JSON, CSV and a plot."""

"""Exact retrieval metrics and curves, shared by model selection (train), evaluate and search."""

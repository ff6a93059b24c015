"""Retrieval over embeddings: the FAISS photo index (:mod:`zsbir.retrieval.index`)."""

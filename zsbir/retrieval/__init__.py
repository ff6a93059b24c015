"""Retrieval: exact metrics and curves (model selection in train, evaluate, search) and
the FAISS photo index of the search product (:mod:`zsbir.retrieval.index`)."""

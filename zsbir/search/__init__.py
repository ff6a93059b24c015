"""Search photos with a sketch: the trained model as a retrieval product.

* :mod:`zsbir.search.bundle` — ``models/bundle/``, everything that turns a raw image into
  its retrieval embedding (written by the ``package`` stage);
* :mod:`zsbir.search.retriever` — :class:`~zsbir.search.retriever.Retriever`, the Python API;
* :mod:`zsbir.search.photo_index` — an index folder opened for search
  (:class:`~zsbir.search.photo_index.PhotoIndex`, :class:`~zsbir.search.photo_index.Hit`);
* :mod:`zsbir.search.gallery` — ``zsbir index``: a photo folder → a searchable index;
* :mod:`zsbir.search.cli` — the ``zsbir`` console command (index, query, serve).

The embedding is the pipeline's own: the extractor of :mod:`zsbir.features`, the PCA of
:mod:`zsbir.features.pca`, the feature scale and ``embed_sketch``/``embed_photo`` of the
trained model (:func:`zsbir.models.base.embed_in_chunks`).
"""

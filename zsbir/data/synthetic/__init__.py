"""The procedural generator of the ``synthetic`` dataset: shapes, their rendering, the files."""

"""Stage `embed`: test sketches and photos in the retrieval space (eval.space)."""

from common import stage

from zsbir.embed import build_embeddings
from zsbir.io import atomic_dir, write_vectors

if __name__ == "__main__":
    with stage("embed") as st:  # no summary: data/embeddings is its only output
        embeddings = build_embeddings(
            "models/model.pt",
            pca_dir="data/pca",
            split_path="data/split.parquet",
            eval_cfg=st.params.eval,
            seed=st.params.seed,
        )
        with atomic_dir("data/embeddings") as out:  # both tables appear together
            for domain, (meta, vectors) in embeddings.items():
                columns = {"id": meta["id"], "class": meta["class"], "seen": meta["seen"]}
                write_vectors(out / f"{domain}.parquet", vectors, columns)

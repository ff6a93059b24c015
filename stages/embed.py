"""Stage `embed`: test sketches and photos in the retrieval space (eval.space)."""

from common import setup

from zsbir.embed import build_embeddings
from zsbir.io import atomic_dir, write_vectors
from zsbir.seed import seed_everything
from zsbir.tracking import stage_run

if __name__ == "__main__":
    params, plain = setup("embed")
    seed_everything(params.seed)
    with stage_run("embed", plain):
        embeddings = build_embeddings(
            "models/model.pt", "data/pca", "data/split.parquet", params.eval, params.seed
        )
        with atomic_dir("data/embeddings") as out:  # both tables appear together
            for domain, (meta, vectors) in embeddings.items():
                columns = {"id": meta["id"], "class": meta["class"], "seen": meta["seen"]}
                write_vectors(out / f"{domain}.parquet", vectors, columns)

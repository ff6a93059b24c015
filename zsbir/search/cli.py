"""The ``zsbir`` command: ``index`` a photo folder, ``query`` it with a sketch, ``serve`` a page.

    zsbir index PHOTO_DIR --bundle models/bundle --out INDEX_DIR [--engine local|ray] [--skip-unreadable]
                [--kind flat|sq8|ivf|hnsw] [--nlist L] [--nprobe P]
    zsbir query SKETCH.png --index INDEX_DIR -k 10 [--json] [--sheet out.png]
    zsbir serve --index INDEX_DIR [--host 127.0.0.1] [--port 8000] [--token SECRET]
                [--batch-wait-ms 5] [--max-batch 16] [--max-queue 64] [--timeout-s 30]

Every error is one line on stderr naming the file or option and the fix (exit code 2);
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from zsbir.features.engine_ray import RayEngineError
from zsbir.features.extract import ExtractError
from zsbir.features.images import ImageReadError
from zsbir.io import ArtifactError
from zsbir.retrieval.index import KINDS
from zsbir.search.bundle import BundleError

# Errors a user can fix from the message alone; anything else is also one line, but
# flagged as unexpected (exit 2 either way, --debug for the traceback).
USER_ERRORS = (BundleError, ArtifactError, ExtractError, ImageReadError, RayEngineError,
               ValueError, OSError)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="zsbir", description="Search photos with a sketch.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = ap.add_subparsers(dest="command", required=True)
    ix = sub.add_parser("index", parents=[common],
                        help="embed a photo folder into a searchable index")
    ix.add_argument("photo_dir", type=Path)
    ix.add_argument("--bundle", type=Path, default=Path("models/bundle"))
    ix.add_argument("--out", type=Path, required=True, help="index folder (created/updated)")
    ix.add_argument("--engine", choices=("local", "ray"), default="local",
                    help="ray: embed on a Ray cluster ($RAY_ADDRESS, else a local Ray); the "
                         "same index")
    ix.add_argument("--skip-unreadable", action="store_true",
                    help="skip files that cannot be decoded (listed in OUT/index.json)")
    ix.add_argument("--kind", choices=KINDS, default="flat",
                    help="flat: exact (default); sq8: 8-bit codes, a quarter of the memory, "
                         "near-exact; ivf: k-means cells, scans nprobe of nlist; hnsw: graph")
    ix.add_argument("--nlist", type=int, default=None,
                    help="ivf: number of cells (default: 4 sqrt(N), >= 39 photos a cell)")
    ix.add_argument("--nprobe", type=int, default=None,
                    help="ivf: cells scanned per query (default: nlist / 16; nlist = exact)")
    ix.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    q = sub.add_parser("query", parents=[common], help="rank the indexed photos for a sketch")
    q.add_argument("sketch", type=Path)
    q.add_argument("--index", type=Path, required=True)
    q.add_argument("-k", type=int, default=10)
    q.add_argument("--bundle", type=Path, default=None, help="default: the index's own bundle")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("--sheet", type=Path, default=None, help="write a contact sheet PNG")
    q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    s = sub.add_parser("serve", parents=[common],
                       help="a web page: draw a sketch, see the photos")
    s.add_argument("--index", type=Path, required=True)
    s.add_argument("--host", default="127.0.0.1",
                   help="anything but loopback requires --token (or ZSBIR_TOKEN)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("-k", type=int, default=12)
    s.add_argument("--bundle", type=Path, default=None)
    s.add_argument("--token", default=None,
                   help="required off loopback: the page and API then need it (default: "
                        "$ZSBIR_TOKEN)")
    s.add_argument("--batch-wait-ms", type=float, default=5.0,
                   help="how long a search waits for others to share its forward pass")
    s.add_argument("--max-batch", type=int, default=16, help="sketches per forward pass")
    s.add_argument("--max-queue", type=int, default=64,
                   help="searches in flight before new ones get 503 + Retry-After")
    s.add_argument("--timeout-s", type=float, default=30.0, help="a slower search is a 504")
    return ap


def cmd_index(args: argparse.Namespace) -> int:
    from zsbir.config import ConfigError, IndexSpec
    from zsbir.search.gallery import index_folder

    try:
        spec = IndexSpec(args.kind, args.nlist, args.nprobe)
    except ConfigError as err:  # name the flag, not the dataclass field
        raise ConfigError(re.sub(r"index\.(\w+)", r"--\1", str(err))) from None
    try:
        summary = index_folder(args.photo_dir, args.bundle, args.out, args.skip_unreadable,
                               spec, args.device, args.engine)
    except ImageReadError as err:
        raise ImageReadError(
            f"{last_line(str(err))}; pass --skip-unreadable to index the other photos (the "
            f"skipped files are then listed in {args.out}/index.json)"
        ) from err
    for item in summary.get("skipped", []):
        print(f"skipped {item['path']}: {item['error']}", file=sys.stderr)
    print(f"indexed {summary['count']} photos into {args.out} ({summary['embedded']} embedded,"
          f" {summary['reused']} reused, {len(summary['skipped'])} skipped)")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from PIL import Image

    from zsbir.search.retriever import Retriever

    retriever = Retriever.for_index(args.index, args.bundle, args.device)
    hits = retriever.search(args.sketch, args.k)
    if args.json:
        print(json.dumps({"sketch": str(args.sketch), "results": [h.to_dict() for h in hits]}))
    else:
        for hit in hits:
            print(f"{hit.rank:3d}  {hit.score:.6f}  {hit.path}")
    if args.sheet is not None:
        from zsbir.search.sheet import write_sheet

        with Image.open(args.sketch) as sketch:
            write_sheet(sketch, hits, retriever.index.photo_root, args.sheet)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from zsbir.search.serve_config import ServeConfig, resolve_token
    from zsbir.search.web import serve

    config = ServeConfig.build(
        host=args.host, port=args.port, k=args.k, batch_wait_ms=args.batch_wait_ms,
        max_batch=args.max_batch, max_queue=args.max_queue, timeout_s=args.timeout_s,
        token=resolve_token(args.token),
    )
    serve(args.index, args.bundle, config)
    return 0


def last_line(text: str) -> str:
    """The error itself, without a worker's traceback that torch copies into the message.

    A DataLoader worker's exception reaches the main process as ``Caught X in DataLoader
    worker …\nOriginal Traceback …\nmodule.X: message``: keep ``message``.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return text
    if "Original Traceback" in text:
        head, sep, tail = lines[-1].partition(": ")
        return tail if sep and "." in head and " " not in head else lines[-1]
    return " ".join(lines)


def describe_error(err: BaseException) -> str:
    """One line: a user error's own message; anything else named as unexpected."""
    text = last_line(str(err)) or type(err).__name__
    if isinstance(err, USER_ERRORS):
        return text
    return f"unexpected {type(err).__name__}: {text} (rerun with --debug for the traceback)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zsbir`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    commands = {"index": cmd_index, "query": cmd_query, "serve": cmd_serve}
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        if args.debug:
            raise
        print(f"zsbir {args.command}: error: {describe_error(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

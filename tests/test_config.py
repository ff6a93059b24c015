"""params.yaml schema: every key known, typed and in range; errors name the key."""

import dataclasses
import types
import typing
from pathlib import Path

import pytest
import yaml

from zsbir.config import ConfigError, Params, constraints, flatten, parse_params, to_dict
from zsbir.io import read_yaml

ROOT = Path(__file__).resolve().parents[1]


def _raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_params_yaml_parses_and_covers_every_field() -> None:
    raw = _raw()
    params = parse_params(raw)
    # params.yaml spells out every field, so `dvc exp run -S` can reach each of them.
    assert set(flatten(raw)) == set(flatten(to_dict(params)))


def test_params_yaml_values_equal_dataclass_defaults() -> None:
    # The documented defaults in code and in params.yaml must not drift apart.
    assert to_dict(parse_params(_raw())) == to_dict(Params())


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("loss", "semantic_wieght"), 0.5, "loss.semantic_wieght"),
        (("los",), {"x": 1}, "'los'"),
        (("data", "synthetic", "n_clases"), 3, "data.synthetic.n_clases"),
        (("train", "epochs"), "ten", "train.epochs"),
        (("train", "epochs"), True, "train.epochs"),
        (("model", "name"), "vae", "model.name"),
        (("features", "layers"), ["gap5", "fc9"], "features.layers[1]"),
        (("pca", "whiten"), "yes", "pca.whiten"),
    ],
)
def test_bad_key_or_type_fails_naming_the_key(path, value, message) -> None:
    raw = _raw()
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_params(raw)


def test_int_accepted_for_float_and_optional_none() -> None:
    raw = _raw()
    raw["loss"]["semantic_weight"] = 0
    raw["data"]["source"] = None
    params = parse_params(raw)
    assert params.loss.semantic_weight == 0.0 and isinstance(params.loss.semantic_weight, float)
    assert params.data.source is None


def test_configs_are_frozen() -> None:
    params = parse_params(_raw())
    with pytest.raises(AttributeError):
        params.loss.semantic_weight = 2.0  # type: ignore[misc]


# --------------------------------------------------------------------------- ranges
def _set(raw: dict, dotted: str, value) -> dict:
    node = raw
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    return raw


# One bad value per bounded key: (dotted key, bad value, what the error must say).
OUT_OF_RANGE = [
    ("seed", -1, "must be >= 0, got -1"),
    ("data.synthetic.n_classes", 1, "must be >= 2, got 1"),
    ("data.synthetic.photos_per_class", 0, "must be >= 1, got 0"),
    ("data.synthetic.sketches_per_photo", 0, "must be >= 1, got 0"),
    ("data.synthetic.image_size", 16, "must be >= 32, got 16"),
    ("split.n_unseen", 0, "must be >= 1, got 0"),
    ("split.max_hops", -1, "must be >= 0, got -1"),
    ("split.val_fraction", 1.5, "must be > 0 and < 1, got 1.5"),
    ("split.val_fraction", 0, "must be > 0 and < 1, got 0.0"),
    ("features.image_size", 31, "must be >= 32, got 31"),
    ("features.batch_size", 0, "must be >= 1, got 0"),
    ("features.num_workers", -1, "must be >= 0, got -1"),
    ("features.device", "gpu", "must be one of ['auto', 'cpu', 'cuda'], got 'gpu'"),
    ("pca.dim", 0, "must be >= 1, got 0"),
    ("model.z_structure", 0, "must be >= 1, got 0"),
    ("model.z_appearance", -2, "must be >= 1, got -2"),
    ("model.hidden", 0, "must be >= 1, got 0"),
    ("model.dropout", 1.0, "must be >= 0 and < 1, got 1.0"),
    ("model.dropout", -0.1, "must be >= 0 and < 1, got -0.1"),
    ("model.embed_dim", 0, "must be >= 1, got 0"),
    ("loss.recon_weight", -1, "must be >= 0, got -1.0"),
    ("loss.cross_recon_weight", -1, "must be >= 0, got -1.0"),
    ("loss.kl_weight", -5, "must be >= 0, got -5.0"),
    ("loss.adv_weight", -0.5, "must be >= 0, got -0.5"),
    ("loss.semantic_weight", -20.0, "must be >= 0, got -20.0"),
    ("loss.align_weight", -1, "must be >= 0, got -1.0"),
    ("loss.ortho_weight", -1e-3, "must be >= 0, got -0.001"),
    ("loss.cosine_scale", 0, "must be > 0, got 0.0"),
    ("train.epochs", -3, "must be >= 1, got -3"),
    ("train.batch_size", 0, "must be >= 1, got 0"),
    ("train.lr_g", -1, "must be > 0, got -1.0"),
    ("train.lr_d", 0, "must be > 0, got 0.0"),
    ("train.lr_g", float("inf"), "must be a finite number, got inf"),
    ("train.lr_d", float("nan"), "must be a finite number, got nan"),
    ("train.beta1", 1.0, "must be >= 0 and < 1, got 1.0"),
    ("train.beta2", -0.9, "must be >= 0 and < 1, got -0.9"),
    ("train.patience", -1, "must be >= 0, got -1"),
    ("train.device", "gpu", "must be one of auto, cpu, cuda or cuda:<index>, got 'gpu'"),
    ("train.device", "cuda:", "must be one of auto, cpu, cuda or cuda:<index>, got 'cuda:'"),
    ("train.threads", -1, "must be >= 0, got -1"),
    ("eval.n_samples", 0, "must be >= 1, got 0"),
    ("eval.chunk_size", 0, "must be >= 1, got 0"),
    ("eval.n_figure_queries", -1, "must be >= 0, got -1"),
    ("eval.n_case_classes", -1, "must be >= 0, got -1"),
]


@pytest.mark.parametrize(("key", "value", "phrase"), OUT_OF_RANGE, ids=lambda x: str(x))
def test_out_of_range_value_fails_naming_key_value_and_range(key, value, phrase) -> None:
    with pytest.raises(ConfigError) as err:
        parse_params(_set(_raw(), key, value))
    assert str(err.value) == f"params key '{key}' {phrase}"


@pytest.mark.parametrize(
    ("key", "value"),
    [("seed", 0), ("split.val_fraction", 0.999), ("model.dropout", 0), ("loss.kl_weight", 0),
     ("train.beta1", 0), ("train.patience", 0), ("train.threads", 0), ("train.device", "cuda:1"),
     ("features.num_workers", 0), ("eval.n_samples", 1), ("eval.n_case_classes", 0),
     ("data.synthetic.image_size", 32), ("train.lr_g", 1e-9)],
)
def test_boundary_values_are_accepted(key, value) -> None:
    params = to_dict(parse_params(_set(_raw(), key, value)))
    assert flatten(params)[key] == value


def _numeric_fields(cls: type, prefix: str = "") -> dict[str, object]:
    """``{dotted key: declared type}`` of every int/float field, recursively."""
    out: dict[str, object] = {}
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        key, tp = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.update(_numeric_fields(tp, f"{key}."))
            continue
        bare = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp
        members = (
            typing.get_args(bare)
            if typing.get_origin(bare) in (typing.Union, types.UnionType)
            else (bare,)
        )
        if any(m in (int, float) for m in members):
            out[key] = tp
    return out


def test_every_numeric_field_declares_a_bound() -> None:
    numeric = _numeric_fields(Params)
    assert "train.epochs" in numeric and "loss.kl_weight" in numeric  # the walk finds them
    unbounded = sorted(k for k, tp in numeric.items() if not constraints(tp))
    assert not unbounded, f"numeric params keys without a declared range: {unbounded}"


def test_every_bound_is_tested_once() -> None:
    tested = {key for key, _, _ in OUT_OF_RANGE}
    assert set(_numeric_fields(Params)) <= tested


def test_defaults_satisfy_their_bounds() -> None:
    assert to_dict(parse_params(to_dict(Params()))) == to_dict(Params())


# ---------------------------------------------------------------------- duplicates
def test_duplicated_key_fails_with_its_name_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("seed: 0\ntrain:\n  epochs: 3\n  lr_g: 0.1\n  epochs: 5\n")
    with pytest.raises(ConfigError, match=r"key 'train\.epochs' is given twice \(lines 3 and 5\)"):
        read_yaml(path)
    path.write_text("seed: 0\neval: {n_samples: 2}\nseed: 1\n")
    with pytest.raises(ConfigError, match=r"yaml: key 'seed' is given twice \(lines 1 and 3\)"):
        read_yaml(path)
    path.write_text("rows:\n  - {a: 1, b: 2}\n  - {a: 1,\n     a: 2}\n")
    with pytest.raises(ConfigError, match=r"key 'rows\[1\]\.a' is given twice \(lines 3 and 4\)"):
        read_yaml(path)


def test_read_yaml_equals_safe_load_without_duplicates() -> None:
    assert read_yaml(ROOT / "params.yaml") == _raw()

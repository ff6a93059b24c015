"""params.yaml schema: every key known and typed; typos fail naming the key."""

from pathlib import Path

import pytest
import yaml

from zsbir.config import ConfigError, Params, flatten, parse_params, to_dict

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

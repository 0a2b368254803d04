import pytest

from reid.data.datasets import DATASETS, SyntheticVIReID, build_dataset
from reid.errors import ConfigError


def test_every_dataset_is_registered_under_its_name() -> None:
    assert set(DATASETS) == {"sysu_mm01", "regdb", "llcm", "hitsz_vcm", "synthetic", "synthetic_video"}
    assert all(cls.name == name for name, cls in DATASETS.items())


def test_build_dataset_constructs_and_checks_roots(tmp_path) -> None:
    data = build_dataset("synthetic", seed=3, num_train_ids=4, num_test_ids=2)
    assert isinstance(data, SyntheticVIReID)
    with pytest.raises(ConfigError, match="expected one of .*sysu_mm01"):
        build_dataset("market1501")
    with pytest.raises(ConfigError, match="takes no root"):
        build_dataset("synthetic", root=str(tmp_path))
    with pytest.raises(ConfigError, match="needs its data root"):
        build_dataset("regdb")

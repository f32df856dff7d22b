"""IDX datasets (mnist:PATH, fashion_mnist[:PATH]) and the minival split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _supernet_tiny import write_idx, write_mnist

import nas.data._idx as idx_module
from nas import NasError
from nas.data import DATASET_KINDS, load_dataset, read_idx, split_minival


def test_read_idx_round_trip_gz_and_raw(tmp_path: Path) -> None:
    a = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(np.uint8)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "a", a, gz=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), a)
    assert np.array_equal(read_idx(tmp_path / "a"), a)


def test_read_idx_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(NasError, match="bad: bad magic number"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((5,), np.uint8), gz=False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-2])
    with pytest.raises(NasError, match=r"short: header says shape \(5,\)"):
        read_idx(tmp_path / "short")


def test_mnist_path_loads_both_splits(tmp_path: Path) -> None:
    write_mnist(tmp_path / "m", n_train=60, n_test=20, side=12)
    data = load_dataset(f"mnist:{tmp_path / 'm'}", resolution=16)
    assert data.x_train.shape == (60, 1, 16, 16) and data.x_test.shape == (20, 1, 16, 16)
    assert data.classes == 10 and data.in_channels == 1
    assert abs(float(data.x_train.mean())) < 1e-4  # normalized with the training split's stats
    assert {"fashion_mnist", "fashion_mnist:PATH", "mnist:PATH"} <= set(DATASET_KINDS)


def test_missing_files_and_package_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_mnist(tmp_path / "m", n_train=20, n_test=10)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(NasError, match="missing file t10k-labels-idx1-ubyte"):
        load_dataset(f"mnist:{folder}")
    with pytest.raises(NasError, match="dataset-fashion-mnist"):
        load_dataset(f"fashion_mnist:{folder}")
    monkeypatch.setattr(idx_module, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(NasError, match=r"apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist")
    with pytest.raises(NasError, match="not a directory"):
        load_dataset(f"mnist:{tmp_path / 'nowhere'}")


def test_minival_is_a_fixed_disjoint_slice(tmp_path: Path) -> None:
    data = load_dataset(f"mnist:{write_mnist(tmp_path / 'm', n_train=80, n_test=10)}")
    train, minival = split_minival(data, 30, seed=0)
    again = split_minival(data, 30, seed=0)[1]
    assert len(train.y_train) == 50 and len(minival.y_test) == 30
    assert torch.equal(minival.x_test, again.x_test) and torch.equal(minival.x_train, minival.x_test)
    rows = {tuple(r.flatten().tolist()) for r in train.x_train}
    assert not any(tuple(r.flatten().tolist()) in rows for r in minival.x_test)
    assert torch.equal(train.x_test, data.x_test)  # the test split is untouched
    with pytest.raises(NasError, match="minival size 80"):
        split_minival(data, 80)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="the Debian package dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_the_package() -> None:
    data = load_dataset("fashion_mnist")
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert data.classes == 10 and data.class_names[0] == "t-shirt/top"

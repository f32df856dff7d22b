"""Datasets for accuracy evaluation and training (nothing is downloaded)."""

from __future__ import annotations

from nas.data._datasets import DATASET_KINDS, ImageData, batches, dataset_shape, load_dataset, resize
from nas.data._idx import FASHION_MNIST_DIR, read_idx, split_minival

__all__ = ["DATASET_KINDS", "FASHION_MNIST_DIR", "ImageData", "batches", "dataset_shape", "load_dataset",
           "read_idx", "resize", "split_minival"]

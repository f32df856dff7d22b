"""Datasets for accuracy evaluation and training (nothing is downloaded)."""

from __future__ import annotations

from nas.data._datasets import DATASET_KINDS, ImageData, batches, load_dataset

__all__ = ["DATASET_KINDS", "ImageData", "batches", "load_dataset"]

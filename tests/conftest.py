"""Shared test setup."""

from __future__ import annotations

import os

import torch

# Two cores in CI: one intra-op thread per test process avoids oversubscription when tests
# spawn subprocesses (Ray workers, CLI runs) beside the pytest process.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

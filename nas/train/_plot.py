"""Learning-curve PNG (loss and accuracy per epoch, train and test), drawn with matplotlib Agg."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def plot_learning_curve(history: Sequence[Mapping[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    try:
        ax_loss.plot(epochs, [r["train_loss"] for r in history], label="train (label smoothing)")
        ax_loss.plot(epochs, [r["test_loss"] for r in history], label="test")
        ax_acc.plot(epochs, [r["train_acc"] for r in history], label="train (augmented)")
        ax_acc.plot(epochs, [r["test_acc"] for r in history], label="test")
        if history and history[0].get("raw_test_acc") is not None:
            ax_acc.plot(epochs, [r["raw_test_acc"] for r in history], "--", label="test (no EMA)")
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
        ax_acc.set(xlabel="epoch", ylabel="top-1 accuracy", title="accuracy", ylim=(0, 1))
        for ax in (ax_loss, ax_acc):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(title, fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)

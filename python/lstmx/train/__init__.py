"""Training: losses with explicit forward/backward."""

from .losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

__all__ = ["CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"]
from .checkpoint import Checkpoint, load_checkpoint, load_model, save_checkpoint  # noqa: E402
from .plot import plot_history  # noqa: E402
from .trainer import EarlyStopping, Trainer  # noqa: E402

__all__ += ["Trainer", "EarlyStopping", "save_checkpoint", "load_checkpoint", "load_model",
            "Checkpoint", "plot_history"]

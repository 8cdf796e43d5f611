"""Pick the device a run trains on, and say why when it is not the one asked for."""

from __future__ import annotations

import torch


def resolve_device(requested: str) -> tuple[torch.device, str]:
    """'auto' → CUDA if available, else CPU; 'cuda' without CUDA falls back to CPU with a reason."""
    if requested == "cpu":
        return torch.device("cpu"), ""
    if torch.cuda.is_available():
        return torch.device("cuda"), ""
    if requested == "cuda":
        return torch.device("cpu"), "CUDA was asked for but is not available here (no GPU or a CPU build of torch); training on the CPU."
    return torch.device("cpu"), ""


def cuda_available() -> bool:
    return torch.cuda.is_available()

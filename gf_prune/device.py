"""Where torch work runs: ``--device`` / the config's ``device`` (``cpu``, the default; ``cuda``, ``cuda:1``, ``mps``).

Training, pruning's training loops and the Monte-Carlo move their tensors to the device and back; models
are saved from the CPU, so files do not depend on where they were made. A device that this machine does
not have is refused by :func:`resolve_device` with one line naming it and what is available, before any
work starts. Results on an accelerator equal the CPU's to float tolerance, not bit for bit (other kernels).
JAX (SAX, in :mod:`gf_prune.verify`) is not run on the device: verification stays on the CPU.
"""

from __future__ import annotations

import torch

from gf_prune.config import check_device_name

DEFAULT_DEVICE = "cpu"


class DeviceError(ValueError):
    """A device that is not a torch device, or that this machine does not have; the message names both."""


def available_devices() -> list[str]:
    """The devices this machine can run on: ``cpu``, then ``cuda:0`` … and ``mps`` when present."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def parse_device(name: str) -> torch.device:
    """``name`` as a torch device (syntax only: ``gpu`` is refused, ``cuda:7`` is not checked here)."""
    try:
        return torch.device(check_device_name(name))
    except ValueError as exc:
        raise DeviceError(str(exc)) from None


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """The torch device for ``name`` (None: cpu), checked against this machine.

    Raises:
        DeviceError: ``device 'cuda' is not available on this machine (available: cpu)``.
    """
    dev = parse_device(str(name or DEFAULT_DEVICE))
    if dev.type == "cpu":
        return torch.device("cpu")
    have = available_devices()
    if dev.type == "cuda":
        dev = torch.device("cuda", 0 if dev.index is None else dev.index)
    if str(dev) not in have:
        raise DeviceError(f"device {str(name)!r} is not available on this machine (available: {', '.join(have)})")
    return dev


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (cpu for a module that has none)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")

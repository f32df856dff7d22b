"""Weight-sharing supernet (placeholder, filled below)."""

from __future__ import annotations

from nas.supernet._net import Position, Supernet, build_supernet, check_supported, extreme_arch, space_hash

__all__ = ["Position", "Supernet", "build_supernet", "check_supported", "extreme_arch", "space_hash"]

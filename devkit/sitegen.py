"""Generate big site inventories for the simulator, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path


def many_units_toml(base_toml: str, n: int, room: str = "balie-1") -> str:
    """`base_toml` plus `n` dual-contact desk units `sim-0000`.. in `room` (with LED and tamper)."""
    blocks = [base_toml.rstrip(), ""]
    for i in range(n):
        blocks += [
            "[[units]]",
            f'id = "sim-{i:04d}"',
            f'room = "{room}"',
            "led_pin = 17",
            "tamper_pin = 27",
            'buttons = [{ id = "knop", contact = "dual", pin = 5, nc_pin = 6 }]',
            "",
        ]
    return "\n".join(blocks)


def write_many_units(base: Path, n: int, out: Path) -> list[str]:
    """Write the generated inventory to `out`; returns the generated unit ids."""
    out.write_text(many_units_toml(base.read_text(encoding="utf-8"), n), encoding="utf-8")
    return [f"sim-{i:04d}" for i in range(n)]

"""The one line format every benchmark prints for each ratio it measures.

    RATIO <bench> <what>: <value>x
    RATIO <bench> <what>: <value>x (target <= <t>x: met|MISSED)

`<bench>` is the module's name under bench/, `<what>` names the ratio (no colon),
the value has two decimals. Each benchmark prints these lines at the end of its run,
after its own tables, for its headline ratios (bench/README.md lists them);
`python -m bench.smoke` greps for them (`PATTERN`) and fails a benchmark that prints
none of those it should, or a value that is not a finite positive number (a `nan`
does not match). The lines say whether a target was met; nothing fails on it.
"""

from __future__ import annotations

import math
import re

MARKER = "RATIO"
PATTERN = re.compile(
    r"^RATIO (?P<bench>[a-z_]+) (?P<name>[^:]+): (?P<value>\d+\.\d\d)x"
    r"(?: \(target <= (?P<target>[\d.]+)x: (?P<verdict>met|MISSED)\))?$"
)


def ratio_line(bench: str, name: str, value: float, *, target: float | None = None) -> str:
    """The RATIO line for `value` (e.g. bot median / bare median)."""
    if ":" in name:
        raise ValueError(f"a ratio's name holds no colon: {name!r}")
    line = f"{MARKER} {bench} {name}: {value:.2f}x"
    if target is not None and math.isfinite(value):
        line += f" (target <= {target:g}x: {'met' if value <= target else 'MISSED'})"
    return line


def print_ratio(bench: str, name: str, value: float, *, target: float | None = None) -> None:
    print(ratio_line(bench, name, value, target=target), flush=True)

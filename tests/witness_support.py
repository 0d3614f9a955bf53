"""Real witnesses for the tests: one `escrow witness serve` process each on a loopback port
(escrow.cli.dev_nodes, as `make run` starts them), and a policy file naming them."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from escrow.cli.dev_nodes import NodeProcess, WitnessSpec, start_witnesses, stop_nodes
from escrow.config import parse_witnesses


@dataclass(slots=True)
class Witnesses:
    """Running witnesses and their vkeys (fetched from GET /key)."""

    processes: list[NodeProcess]
    vkeys: list[str]

    @property
    def setting(self) -> str:
        """The ESCROW_WITNESSES value naming them."""
        return ",".join(f"{v} {p.url}" for v, p in zip(self.vkeys, self.processes, strict=True))

    @property
    def configured(self) -> tuple[tuple[str, str], ...]:
        return parse_witnesses(self.setting)

    def policy(self, quorum: str = "all") -> str:
        lines = [f"witness w{p.index} {v} {p.url}" for v, p in zip(self.vkeys, self.processes, strict=True)]
        members = " ".join(f"w{p.index}" for p in self.processes)
        return "\n".join([*lines, f"group witnesses {quorum} {members}", "quorum witnesses", ""])

    def write_policy(self, path: Path, quorum: str = "all") -> Path:
        path.write_text(self.policy(quorum))
        return path

    def stop(self) -> None:
        stop_nodes(self.processes)


def start_test_witnesses(directory: Path, log_keys: list[str], count: int = 2) -> Witnesses:
    specs = [
        WitnessSpec(i, f"witness-{i}.test/w", directory / f"witness-{i}.key") for i in range(1, count + 1)
    ]
    processes = start_witnesses(specs, log_keys=log_keys, data_dir=directory / "data")
    vkeys = []
    for process in processes:
        with urllib.request.urlopen(f"{process.url}/key", timeout=5) as answer:  # noqa: S310 - loopback
            vkeys.append(json.load(answer)["vkey"])
    return Witnesses(processes, vkeys)

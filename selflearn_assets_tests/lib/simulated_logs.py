"""A simulated world written to a folder and read back, as the tests of the simulator's teaching see it."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from selflearn_assets.lib.simulator import SimConfig, simulate


class SimulatedLogs:
    """`cfg` simulated into `root`: its summary, every turn by event id, the gold labels by event id and task,
    and the event ids in time order."""

    def __init__(self, cfg: SimConfig, root: Path):
        self.summary = simulate(cfg, root, progress=False)
        self.turns: dict[str, dict] = {}
        for path in sorted(root.glob("date=*/*.jsonl")):
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                self.turns[rec["event_id"]] = rec
        self.gold: dict[str, dict] = defaultdict(dict)
        for path in sorted((root / "annotations").glob("date=*/*.jsonl")):
            for line in path.read_text().splitlines():
                row = json.loads(line)
                if row["annotator"] == "gold":
                    self.gold[row["event_id"]][row["task"]] = row["label"]
        self.order = sorted(self.turns, key=lambda e: (self.turns[e]["ts"], e))

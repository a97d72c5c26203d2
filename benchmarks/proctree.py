"""Peak memory of a process tree, sampled from /proc (Linux; no third-party dependency).

The sum of the resident set sizes of a process and all its descendants, sampled every ~50 ms in a
thread. Forked workers share pages with their parent until they write them, so the sum counts those
pages once per process: it is an upper bound of the tree's real footprint, and it is what `ps` and
most monitors add up.
"""
from __future__ import annotations

import os
import threading
from collections import defaultdict

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def parent_pid(pid: int) -> int | None:
    """The parent pid from /proc/PID/stat (None when the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    fields = stat[stat.rfind(b")") + 2:].split()
    return int(fields[1]) if len(fields) > 1 else None


def resident_bytes(pid: int) -> int:
    """The resident set size from /proc/PID/statm (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


class TreeSampler(threading.Thread):
    """Samples the summed RSS of `root` and its descendants until stopped; keeps the peak.

    Each sample lists /proc and reads the parent of pids it has not seen yet (a process keeps its
    parent while our tree runs), so a sample costs one directory listing plus one small read per
    new process and per process in the tree.
    """

    def __init__(self, root: int, interval: float = 0.05) -> None:
        super().__init__(name=f"rss-sampler-{root}", daemon=True)
        self.root = root
        self.interval = interval
        self.peak_rss_bytes = 0
        self.peak_processes = 0
        self.samples = 0
        self._parents: dict[int, int] = {}
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            self.sample()
            self._stopped.wait(self.interval)

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stopped.set()
        self.join()

    def tree(self) -> list[int]:
        """The pids of the root and its live descendants."""
        pids = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        for gone in set(self._parents) - pids:
            del self._parents[gone]
        for pid in pids - set(self._parents):
            ppid = parent_pid(pid)
            if ppid is not None:
                self._parents[pid] = ppid
        children: dict[int, list[int]] = defaultdict(list)
        for pid, ppid in self._parents.items():
            children[ppid].append(pid)
        tree = [self.root]
        index = 0
        while index < len(tree):
            tree.extend(children.get(tree[index], ()))
            index += 1
        return tree

    def sample(self) -> int:
        """One sample: the tree's summed RSS in bytes (and the peak updated)."""
        tree = self.tree()
        rss = sum(resident_bytes(pid) for pid in tree)
        self.samples += 1
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        self.peak_processes = max(self.peak_processes, len(tree))
        return rss

"""Print every import cycle among the modules of ``chimera_engine`` and ``app``.

Exit status 1 if there is one (``make lint`` runs this). The graph comes from
grimp, the library import-linter uses; imports under ``if TYPE_CHECKING:`` are
left out because they do not run. Each strongly connected group of modules is
reported once, with one shortest cycle through it to show where to cut.
Imports under ``if TYPE_CHECKING:`` count: a type-only cycle still ties the
modules together for a reader and for mypy.

``TAKING_APART`` may list cycles that are being taken apart; a cycle inside one
of them is printed but does not fail the check. Remove an entry once its cycle
is gone (the script says so), and the check keeps it gone. It is empty: there is
no import cycle in either package.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable

import grimp

PACKAGES = ("chimera_engine", "app")

#: Known cycles still being taken apart (every module of a tolerated cycle is listed).
TAKING_APART: tuple[frozenset[str], ...] = ()


def strongly_connected(
    nodes: Iterable[str], edges: Callable[[str], Iterable[str]]
) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of two or more modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges(nxt))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def shortest_cycle(group: list[str], edges: Callable[[str], Iterable[str]]) -> list[str]:
    """A shortest cycle through the group's first module, staying inside the group."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges(node)):
            if nxt not in members:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    return group


def main() -> int:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    modules = set(graph.modules)

    def edges(module: str) -> set[str]:
        return graph.find_modules_directly_imported_by(module) & modules

    failed = False
    seen: set[frozenset[str]] = set()
    for group in strongly_connected(modules, edges):
        known = next((k for k in TAKING_APART if set(group) <= k), None)
        label = "known import cycle (being taken apart)" if known else "import cycle"
        print(f"{label} among {len(group)} modules: {', '.join(group)}")
        print("  e.g. " + " -> ".join(shortest_cycle(group, edges)))
        if known is None:
            failed = True
        else:
            seen.add(known)
    for gone in set(TAKING_APART) - seen:
        first = ", ".join(sorted(gone)[:3])
        print(f"gone: the cycle among {first}, ... (remove it from TAKING_APART)")
    if failed:
        return 1
    print(f"no new import cycles among {len(modules)} modules of {', '.join(PACKAGES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

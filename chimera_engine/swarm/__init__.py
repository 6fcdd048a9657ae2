"""The swarm: agent processes that run workspace tools as tasks, with consensus.

Modules, from the bottom up:

* :mod:`.models` - AgentSpec, Task, states and the snapshots callers receive.
* :mod:`.consensus` - ConsensusEngine (majority, weighted, unanimous, quorum).
* :mod:`.graph` and :mod:`.decomposer` - task graphs and the TaskDecomposer.
* :mod:`.agent` - the agent process (``python -m chimera_engine.swarm.agent``).
* :mod:`.local` and :mod:`.dask_backend` - where attempts run.
* :mod:`.coordinator` - SwarmCoordinator, the one API for all of it.

This ``__init__`` deliberately imports nothing: the agent process imports
``chimera_engine.swarm.agent`` and must stay lean (spawn-to-ready is measured
in milliseconds).
"""

from __future__ import annotations

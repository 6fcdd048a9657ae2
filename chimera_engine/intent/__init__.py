"""The IntentCompiler: an operator's request -> a task graph for the swarm, shown first."""

from chimera_engine.intent.compiler import IntentCompiler
from chimera_engine.intent.plan import IntentError, IntentPlan, PlanStep

__all__ = ["IntentCompiler", "IntentError", "IntentPlan", "PlanStep"]

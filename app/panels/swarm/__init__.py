"""Swarm panel: agents, task graphs and their results."""

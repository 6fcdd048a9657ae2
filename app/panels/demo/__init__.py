"""Demo menu: start, stop and fault-inject the demo workload."""

"""Tool modules of the patch benchmark workspace (each has a real, small bug)."""

"""Run events and outputs (pydantic models)."""

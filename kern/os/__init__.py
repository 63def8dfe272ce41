"""kern's HTTP server: an Agno-compatible AgentOS for agents and teams running as Ray actors."""

from kern.os.agentos import AgentOS

__all__ = ["AgentOS"]

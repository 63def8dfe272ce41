"""`GET /config`: what an AgentOS serves, in Agno 3.1.10's `ConfigResponse` shape.

Sessions are kern's one database feature: the session block lists every database with its session
table. Memory, learning, metrics, evals, traces and knowledge are features kern does not have, so their
blocks list no database, as Agno's do when no database offers them; workflows, interfaces and
filesystems are empty, the queue is not durable, and `company` is null.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from kern.os.agentos import AgentOS, db_id, session_table
from kern.specs import ComponentSpec, TeamSpec


class ModelRef(BaseModel):
    """A model in use (Agno's `Model`)."""

    id: str | None = None
    provider: str | None = None


class AgentSummary(BaseModel):
    """An agent in the config (Agno's `AgentSummaryResponse`)."""

    id: str | None = None
    name: str | None = None
    description: str | None = None
    db_id: str | None = None
    model: ModelRef | None = None
    metadata: dict[str, Any] | None = None
    sandboxed: bool = False


class TeamSummary(BaseModel):
    """A team in the config (Agno's `TeamSummaryResponse`)."""

    id: str | None = None
    name: str | None = None
    description: str | None = None
    db_id: str | None = None
    mode: str | None = None
    model: ModelRef | None = None
    metadata: dict[str, Any] | None = None
    sandboxed: bool = False


class DomainConfig(BaseModel):
    """How a client shows one database of a domain (Agno's `*DomainConfig`)."""

    display_name: str | None = None


class DatabaseConfig(BaseModel):
    """One database of a domain and its tables (Agno's `DatabaseConfig`)."""

    db_id: str
    domain_config: DomainConfig | None = None
    tables: list[str] | None = None


class DomainDatabases(BaseModel):
    """The databases of one domain: sessions, memory, metrics... (Agno's `SessionConfig` and the like)."""

    display_name: str | None = None
    dbs: list[DatabaseConfig] | None = None


class KnowledgeDomain(DomainDatabases):
    """The knowledge domain (Agno's `KnowledgeConfig`): kern has no knowledge bases."""

    knowledge_instances: list[dict[str, Any]] | None = None


class FileSystemConfig(BaseModel):
    """Agents' filesystems (Agno's `FileSystemConfig`): kern has none."""

    namespaces: list[dict[str, Any]] = Field(default_factory=list)


class QueueCapabilities(BaseModel):
    """Background-run capabilities (Agno's `QueueCapabilities`): kern has no durable queue."""

    durable: bool = False
    queue_per_session: bool = False


class ConfigResponse(BaseModel):
    """What this AgentOS serves (Agno's `ConfigResponse`); the route leaves out null fields but
    `company`, null for clients to hide the Company products."""

    os_id: str
    name: str | None = None
    description: str | None = None
    available_models: list[ModelRef] = Field(default_factory=list)
    os_database: str | None = None
    databases: list[str]
    chat: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    session: DomainDatabases | None = None
    metrics: DomainDatabases | None = None
    memory: DomainDatabases | None = None
    learning: DomainDatabases | None = None
    company: dict[str, Any] | None = None
    filesystem: FileSystemConfig | None = None
    knowledge: KnowledgeDomain | None = None
    evals: DomainDatabases | None = None
    traces: DomainDatabases | None = None
    queue: QueueCapabilities | None = None
    agents: list[AgentSummary]
    teams: list[TeamSummary]
    workflows: list[dict[str, Any]]
    interfaces: list[dict[str, Any]]

    @model_serializer(mode="wrap")
    def _with_company(self, handler: SerializerFunctionWrapHandler):
        # (no return annotation: the OpenAPI document keeps the model's fields)
        data = handler(self)
        data.setdefault("company", None)
        return data


def os_config(agent_os: AgentOS) -> ConfigResponse:
    """The config of `agent_os`, as Agno's `/config` route builds it."""
    no_databases = DomainDatabases(dbs=[])
    return ConfigResponse(
        os_id=agent_os.id,
        name=agent_os.name,
        description=agent_os.description,
        available_models=_models(agent_os),
        os_database=db_id(agent_os.given_db) if agent_os.given_db is not None else None,
        databases=list(agent_os.dbs),
        session=DomainDatabases(
            dbs=[
                DatabaseConfig(
                    db_id=each_id,
                    domain_config=DomainConfig(display_name=each_id),
                    tables=[session_table(db)],
                )
                for each_id, db in agent_os.dbs.items()
            ]
        ),
        metrics=no_databases,
        memory=no_databases,
        learning=no_databases,
        filesystem=FileSystemConfig(),
        knowledge=KnowledgeDomain(dbs=[], knowledge_instances=[]),
        evals=no_databases,
        traces=no_databases,
        queue=QueueCapabilities(),
        agents=[_agent_summary(agent.spec) for agent in agent_os.agents.values()],
        teams=[_team_summary(team.spec) for team in agent_os.teams.values()],
        workflows=[],
        interfaces=[],
    )


def _models(agent_os: AgentOS) -> list[ModelRef]:
    """The distinct (id, provider) of the agents' and teams' models (not their members')."""
    seen = {(c.spec.model.id, c.spec.model.provider): None for c in agent_os.components()}
    return [ModelRef(id=model_id, provider=provider) for model_id, provider in seen if provider is not None]


def _summary(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "description": spec.description,
        "db_id": db_id(spec.db) if spec.db is not None else None,
        "model": ModelRef(id=spec.model.id, provider=spec.model.provider),
    }


def _agent_summary(spec: ComponentSpec) -> AgentSummary:
    return AgentSummary(**_summary(spec))


def _team_summary(spec: ComponentSpec) -> TeamSummary:
    assert isinstance(spec, TeamSpec)
    return TeamSummary(**_summary(spec), mode=spec.mode)

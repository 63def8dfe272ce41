"""What Agno 3.1.10's `Agent(...)`, `Team(...)` and `AgentOS(...)` take, so that an option kern does not
support yet is refused by name, never silently dropped (a name Agno does not know is Python's usual
TypeError)."""

from __future__ import annotations

from typing import Any

AGNO_AGENT_OPTIONS = frozenset(
    """
    add_datetime_to_context add_dependencies_to_context add_history_to_context add_knowledge_to_context
    add_learnings_to_context add_location_to_context add_memories_to_context add_name_to_context
    add_search_knowledge_instructions add_session_state_to_context add_session_summary_to_context
    additional_context additional_input build_context build_user_context cache_callables cache_session
    callable_knowledge_cache_key callable_tools_cache_key checkpoint compaction compress_tool_results
    compression_manager datetime_format db debug_level debug_mode delay_between_retries dependencies
    description enable_agentic_knowledge_filters enable_agentic_memory enable_agentic_state
    enable_session_summaries events_to_skip expected_output exponential_backoff fallback_config
    fallback_models filesystem followup_model followups id input_schema instructions introduction
    knowledge knowledge_filters knowledge_retriever learning markdown max_tool_calls_from_history
    media_storage memory_manager metadata model name num_followups num_history_messages num_history_runs
    num_past_session_runs_in_search num_past_sessions_to_search offload_tool_results output_model
    output_model_prompt output_schema overwrite_db_session_state parse_response parser_model
    parser_model_prompt post_hooks pre_hooks read_chat_history read_tool_call_history reasoning_agent
    reasoning_model references_format resolve_in_context retries role sandbox save_response_to_file
    search_knowledge search_past_sessions send_media_to_model session_id session_state
    session_summary_manager skills store_events store_history_messages store_media store_tool_messages
    stream stream_events structured_outputs system_message system_message_role telemetry
    timezone_identifier tool_call_limit tool_choice tool_hooks tools update_knowledge
    update_memory_on_run use_instruction_tags use_json_mode user_id user_message_role
    """.split()
)
AGNO_TEAM_OPTIONS = frozenset(
    """
    add_datetime_to_context add_dependencies_to_context add_history_to_context add_knowledge_to_context
    add_learnings_to_context add_location_to_context add_member_tools_to_context add_memories_to_context
    add_name_to_context add_search_knowledge_instructions add_session_state_to_context
    add_session_summary_to_context add_team_history_to_members additional_context additional_input
    cache_callables cache_session callable_knowledge_cache_key callable_members_cache_key
    callable_tools_cache_key checkpoint compress_tool_results compression_manager datetime_format db
    debug_level debug_mode delay_between_retries delegate_to_all_members dependencies description
    determine_input_for_members enable_agentic_knowledge_filters enable_agentic_memory
    enable_agentic_state enable_session_summaries events_to_skip expected_output exponential_backoff
    fallback_config fallback_models followup_model followups get_member_information_tool id input_schema
    instructions introduction knowledge knowledge_filters knowledge_retriever learning markdown
    max_iterations max_tool_calls_from_history media_storage members memory_manager metadata mode model
    name num_followups num_history_messages num_history_runs num_past_session_runs_in_search
    num_past_sessions_to_search num_team_history_runs offload_tool_results output_model
    output_model_prompt output_schema overwrite_db_session_state parse_response parser_model
    parser_model_prompt post_hooks pre_hooks read_chat_history reasoning_agent reasoning_model
    references_format resolve_in_context respond_directly retries role search_knowledge
    search_past_sessions send_media_to_model session_id session_state session_summary_manager
    share_member_interactions show_members_responses skills store_events store_history_messages
    store_media store_member_responses store_tool_messages stream stream_events stream_member_events
    system_message system_message_role telemetry timezone_identifier tool_call_limit tool_choice
    tool_hooks tools update_knowledge update_memory_on_run use_instruction_tags use_json_mode user_id
    """.split()
)


AGNO_RUN_OPTIONS = frozenset(
    """
    audio debug_mode files images knowledge_filters output_schema run_context videos
    """.split()
)
"""What Agno 3.1.10's `run` / `arun` take beyond what kern's do."""


AGNO_AGENTOS_OPTIONS = frozenset(
    """
    a2a_interface authorization authorization_config auto_provision_dbs checkpoint company config cors
    event_stream interfaces internal_service_token knowledge manager mcp mcp_auth mcp_server media_storage
    public queue registry run_hooks_in_background scheduler scheduler_base_url scheduler_poll_interval
    settings tracing user_directory user_isolation workflows
    """.split()
)
"""What Agno 3.1.10's `AgentOS(...)` takes that kern's does not (yet)."""


def not_supported(call: str) -> NotImplementedError:
    """The error for an Agno option (or value) kern does not support yet, `call` showing it."""
    return NotImplementedError(f"{call} is an Agno 3.1.10 option kern does not support yet")


def refuse(kind: str, options: dict[str, Any]) -> None:
    """Raise for the first of `options` (those `kind`'s constructor did not take): an Agno option kern does
    not support yet, or an unknown keyword."""
    if not options:
        return
    name = next(iter(options))
    known = {"Team": AGNO_TEAM_OPTIONS, "Agent": AGNO_AGENT_OPTIONS, "AgentOS": AGNO_AGENTOS_OPTIONS}.get(
        kind, AGNO_RUN_OPTIONS
    )
    if name in known:
        raise not_supported(f"{kind}({name}=...)")
    raise TypeError(f"{kind}() got an unexpected keyword argument {name!r}")

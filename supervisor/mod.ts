/**
 * The supervisor: child specs, restart policy, dependency order, the supervisor loop, its
 * event timeline, control commands and HTTP API, and the pipeline's specs.
 *
 * @module
 */
export * from "./supervision/child_spec.ts";
export * from "./control/commands.ts";
export * from "./control/control_server.ts";
export * from "./supervision/dependency_order.ts";
export * from "./supervision/event_timeline.ts";
export * from "./supervision/log_multiplexer.ts";
export * from "./pipeline_specs.ts";
export * from "./supervision/process_info.ts";
export * from "./supervision/restart_policy.ts";
export * from "./supervision/self_command.ts";
export * from "./supervision/supervisor.ts";
export * from "./supervisor_config.ts";

/**
 * The supervisor: child specs, restart policy, dependency order, the supervisor loop, its
 * event timeline, control commands and HTTP API, and the pipeline's specs.
 *
 * @module
 */
export * from "./child_spec.ts";
export * from "./control/commands.ts";
export * from "./control/control_server.ts";
export * from "./dependency_order.ts";
export * from "./event_timeline.ts";
export * from "./log_multiplexer.ts";
export * from "./pipeline_specs.ts";
export * from "./process_info.ts";
export * from "./restart_policy.ts";
export * from "./self_command.ts";
export * from "./supervisor.ts";
export * from "./supervisor_config.ts";

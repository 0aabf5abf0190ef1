/**
 * What tests, chaos suites, benchmarks and the demo use to run real parts: free loopback
 * ports, polling with a deadline, temporary directories, the suite's mode, the Debian tools
 * some tests need, and one role of main.ts as a child process. Test, script and benchmark code only: no production module imports
 * this package.
 *
 * @module
 */
export * from "./free_port.ts";
export * from "./long_mode.ts";
export * from "./role_process.ts";
export * from "./spawned_process.ts";
export * from "./temp_dir.ts";
export * from "./test_tools.ts";
export * from "./wait_for.ts";
export * from "./kafka_mock_cluster.ts";

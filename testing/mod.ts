/**
 * What tests, chaos suites, benchmarks and the demo use to run real parts: free loopback
 * ports, polling with a deadline, temporary directories, the suite's mode, and the Debian
 * tools some tests need. Test, script and benchmark code only: no production module imports
 * this package.
 *
 * @module
 */
export * from "./test_tools.ts";

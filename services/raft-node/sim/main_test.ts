import assert from "node:assert/strict";
import { main } from "./main.ts";

Deno.test("test:sim prints its usage and exits 2 for an unknown option or a bad value, 0 for --help", () => {
  const printed: string[] = [];
  const { log, error } = console;
  console.log = console.error = (...parts: unknown[]) => void printed.push(parts.join(" "));
  try {
    assert.equal(main(["--bogus"]), 2);
    assert.match(printed.pop()!, /--bogus[\s\S]*Usage: deno task test:sim/);
    assert.equal(main(["--seeds", "x"]), 2);
    assert.match(printed.pop()!, /^Invalid --seeds "x": expected a non-negative integer\n\nUsage:/);
    assert.equal(main(["--unsafe", "nope"]), 2);
    assert.match(printed.pop()!, /^Invalid --unsafe "nope": expected one of commitPrevious/);
    assert.equal(main(["--help"]), 0);
    assert.match(printed.pop()!, /^Usage: deno task test:sim/);
  } finally {
    console.log = log;
    console.error = error;
  }
});

// Passes failpoint("step") five times, printing "pass N" before each, then "done".
import { failpoint } from "../failpoint.ts";

for (let n = 1; n <= 5; n++) {
  console.log(`pass ${n}`);
  failpoint("step");
}
console.log("done");

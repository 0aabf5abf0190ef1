import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ROLES } from "../main.ts";
import { DASHBOARD_ASSET_DIR, DASHBOARD_ASSETS } from "../supervisor/dashboard/dashboard_server.ts";
import { COMPILE_INCLUDES, compileArgs, roleModules, ROOT } from "./compile.ts";

/** Roles implemented in main.ts itself: nothing to load. */
const IN_PROCESS_ROLES = new Set(["run"]);

/** True when `path` (relative to the root) is an `--include` or inside one. */
function included(includes: readonly string[], path: string): boolean {
  return includes.some((include) => path === include || path.startsWith(`${include}/`));
}

async function* filesUnder(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* filesUnder(path);
    else yield path;
  }
}

Deno.test("the compile configuration embeds the module of every role in main.ts ROLES", async () => {
  const includes = [...COMPILE_INCLUDES, ...await roleModules()];
  for (const [role, entry] of Object.entries(ROLES)) {
    const specifier = /import\("\.\/([^"]+)"\)/.exec(entry.load.toString())?.[1];
    if (specifier === undefined) {
      assert.ok(
        IN_PROCESS_ROLES.has(role),
        `role ${role} loads no module: expected a literal import("./...")`,
      );
      continue;
    }
    assert.ok(included(includes, specifier), `role ${role}: ${specifier} is not embedded`);
    await Deno.stat(`${ROOT}${specifier}`); // and it exists
  }
});

Deno.test("the compile configuration embeds every .proto file and every dashboard asset", async () => {
  const needed: string[] = [];
  for await (const path of filesUnder("proto")) if (path.endsWith(".proto")) needed.push(path);
  assert.ok(needed.length >= 4, `proto files found: ${needed.join(", ")}`);
  const dashboardDir = fileURLToPath(DASHBOARD_ASSET_DIR).slice(ROOT.length).replace(/\/$/, "");
  for (const { file } of Object.values(DASHBOARD_ASSETS)) needed.push(`${dashboardDir}/${file}`);
  for await (const path of filesUnder(dashboardDir)) needed.push(path);
  const args = await compileArgs();
  const includes = args.flatMap((arg, i) => args[i - 1] === "--include" ? [arg] : []);
  for (const path of needed) assert.ok(included(includes, path), `${path} is not embedded`);
  assert.equal(args.at(-1), "main.ts", "the entry point is main.ts");
  assert.deepEqual(args.slice(args.indexOf("--output"), args.indexOf("--output") + 2), [
    "--output",
    "dist/trading",
  ]);
});

Deno.test("the dashboard reads its assets through import.meta-relative URLs, as a compiled binary needs", async () => {
  // Inside a binary, import.meta.url points into the embedded file system; a path from the
  // working directory would point at whatever directory the binary was started in.
  assert.equal(
    DASHBOARD_ASSET_DIR.href,
    new URL("../supervisor/dashboard/assets/", import.meta.url).href,
  );
  const source = await Deno.readTextFile(
    new URL("../supervisor/dashboard/dashboard_server.ts", import.meta.url),
  );
  const reads = [...source.matchAll(/Deno\.read(?:Text)?File(?:Sync)?\(([^)]*)\)/g)].map((m) =>
    m[1]!
  );
  assert.ok(reads.length > 0, "the dashboard server reads its assets");
  for (const argument of reads) {
    assert.match(argument, /^new URL\(\w+, DASHBOARD_ASSET_DIR$/, `read of ${argument}`);
  }
  assert.doesNotMatch(source, /Deno\.cwd\(\)/);
});

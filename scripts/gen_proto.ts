/**
 * Generates typed TypeScript (messages and grpc-js services) from `proto/` with buf and
 * ts-proto, both from npm, so it works offline and without protoc.
 *
 * Usage: `deno task proto` (writes proto/gen) or `deno run -A scripts/gen_proto.ts <out-dir>`.
 */

const protoDir = new URL("../proto/", import.meta.url).pathname;

/** The ts-proto options; changing them changes the generated surface. */
export const TS_PROTO_OPTIONS = [
  "outputServices=grpc-js",
  "esModuleInterop=true",
  "importSuffix=.ts",
  "forceLong=number",
  "outputJsonMethods=false",
  "useOptionals=none",
  "exportCommonSymbols=false",
  "oneof=unions",
];

/** Runs `buf generate` on proto/ and writes the generated files under `outDir`. */
export async function generateProto(outDir: string): Promise<void> {
  const template = {
    version: "v2",
    clean: true,
    plugins: [{
      local: [Deno.execPath(), "run", "-A", "npm:ts-proto@2.18.0/protoc-gen-ts_proto"],
      out: outDir,
      opt: TS_PROTO_OPTIONS,
    }],
  };
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "npm:@bufbuild/buf@1.75.0",
      "generate",
      "--template",
      JSON.stringify(template),
    ],
    cwd: protoDir,
    stdout: "inherit",
    stderr: "inherit",
  });
  const { code } = await command.output();
  if (code !== 0) throw new Error(`buf generate failed with exit code ${code}`);
}

if (import.meta.main) {
  const outDir = Deno.args[0] ?? `${protoDir}gen`;
  await generateProto(outDir);
  console.log(`generated ${outDir}`);
}

// A role that only loads the Raft node's config, run through main.ts's error handling.
import { ROLES, runRole } from "../../../main.ts";
import { commonEnv, loadConfig, raftEnv } from "../config.ts";

ROLES["config-check"] = {
  describe: "loads the Raft config and exits",
  load: () =>
    Promise.resolve(() => {
      loadConfig({ ...commonEnv({ httpPort: 8080 }), ...raftEnv });
      return Promise.resolve(0);
    }),
};
Deno.exit(await runRole("config-check", []));

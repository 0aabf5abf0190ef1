import assert from "node:assert/strict";
import { tempDir } from "@trading/testing";
import { ErrorCode } from "../protocol/error_codes.ts";
import { Flusher } from "../storage/flusher.ts";
import { OffsetStore } from "../storage/offset_store.ts";
import { GroupCoordinator } from "./group_coordinator.ts";

Deno.test("GroupCoordinator.deleteGroup() sees a session that expired since the last sweep", async () => {
  await using dir = await tempDir("coordinator-test-");
  const offsets = await OffsetStore.open(dir.path, new Flusher(), true);
  let now = 1_000_000;
  const coordinator = new GroupCoordinator(
    { minSessionTimeoutMs: 100, maxSessionTimeoutMs: 60_000, initialRebalanceDelayMs: 0 },
    offsets,
    () => now,
  );
  try {
    const joined = await coordinator.join("g", {
      request: {
        groupId: "g",
        sessionTimeoutMs: 1000,
        rebalanceTimeoutMs: 1000,
        memberId: "",
        groupInstanceId: "static-1",
        protocolType: "consumer",
        protocols: [{ name: "range", metadata: new Uint8Array() }],
      },
      clientId: "c",
      clientHost: "h",
      requireKnownMemberId: true,
    });
    assert.equal(joined.errorCode, ErrorCode.NONE);
    assert.equal(await coordinator.deleteGroup("g"), ErrorCode.NON_EMPTY_GROUP);
    // A static member that closed sends no LeaveGroup; its session ends 1000 ms later. The
    // call below runs before any sweep timer could see the new time.
    now += 1001;
    assert.equal(await coordinator.deleteGroup("g"), ErrorCode.NONE);
  } finally {
    coordinator.close();
    await offsets.close();
  }
});

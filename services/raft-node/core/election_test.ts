import assert from "node:assert/strict";
import { mayGrantVote, randomizedElectionTimeout, tallyVotes } from "./election.ts";
import { NONE } from "./types.ts";

Deno.test("tallyVotes() wins on a majority of grants, loses on a majority of rejections", () => {
  const voters = ["a", "b", "c"];
  assert.equal(tallyVotes(voters, new Map([["a", true]])), "pending");
  assert.equal(tallyVotes(voters, new Map([["a", true], ["b", true]])), "won");
  assert.equal(tallyVotes(voters, new Map([["a", true], ["b", false], ["c", false]])), "lost");
  // A vote from a node that is not a voter does not count.
  assert.equal(tallyVotes(voters, new Map([["a", true], ["x", true]])), "pending");
});

Deno.test("randomizedElectionTimeout() stays in [electionTick, 2 * electionTick)", () => {
  assert.equal(randomizedElectionTimeout(50, () => 0), 50);
  assert.equal(randomizedElectionTimeout(50, () => 0.999999), 99);
});

Deno.test("mayGrantVote() allows the same candidate again, a free node, or a later pre-vote", () => {
  const request = { from: "b", term: 5, preVote: false };
  assert.equal(mayGrantVote({ vote: "b", leader: NONE, term: 5 }, request), true);
  assert.equal(mayGrantVote({ vote: NONE, leader: NONE, term: 5 }, request), true);
  assert.equal(mayGrantVote({ vote: "c", leader: NONE, term: 5 }, request), false);
  assert.equal(mayGrantVote({ vote: NONE, leader: "c", term: 5 }, request), false);
  assert.equal(
    mayGrantVote({ vote: "c", leader: "c", term: 5 }, { from: "b", term: 6, preVote: true }),
    true,
  );
});

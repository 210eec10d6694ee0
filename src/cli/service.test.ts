import { expect, test } from "bun:test";
import { isPlainUserName, nameOfUid } from "./service.ts";

const PASSWD = [
  "# a comment:x:1000:1000::/:/bin/sh",
  "root:x:0:0:root:/root:/bin/bash",
  "+alice::1000:1000:::",
  "-bob:x:1001:1001:::",
  "carol:x:1000:1000:Carol:/home/carol:/bin/bash",
  "",
  "dave:x:1002",
].join("\n");

test.each([
  ["root", 0, "root"],
  ["past a NIS line with the same uid", 1000, "carol"],
  ["a NIS exclusion is no account", 1001, undefined],
  ["a line with fewer fields", 1002, "dave"],
  ["a uid not there", 4242, undefined],
  ["no uid (Windows)", -1, undefined],
  ["not an integer", 0.5, undefined],
] as const)("nameOfUid: %s", (_, uid, name) => {
  expect(nameOfUid(PASSWD, uid)).toBe(name);
});

test.each([
  ["alice", true],
  ["svc-levity_2", true],
  ["machine$", true],
  ["50%off", false],
  ["x\nExecStartPre=/bin/touch /tmp/pwned", false],
  ["has space", false],
  ["", false],
  ["-dash", false],
  ["a".repeat(65), false],
] as const)("isPlainUserName(%j) is %p", (name, plain) => {
  expect(isPlainUserName(name)).toBe(plain);
});

// package.json agrees with the code: version, Node floor, no runtime dependencies.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";

import { VERSION } from "@mailgent/client";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as Record<string, unknown>;

it("package.json matches the package", () => {
  assert.equal(pkg.name, "@mailgent/client");
  assert.equal(pkg.version, VERSION);
  assert.deepEqual(pkg.engines, { node: ">=20" });
  assert.equal(pkg.dependencies, undefined, "no runtime dependencies");
});

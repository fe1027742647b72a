/*
 * `prepack` / `postpack`: the package.json that goes into the package has no `prepare` script.
 *
 * `prepare` is for a checkout of this repository (`npm install` there builds the addon and dist/); in the
 * package it does nothing, but npm reports a dependency that lists it as one with install scripts not yet
 * allowed (npm 11's allowScripts warning, on every install of it). `strip` saves package.json beside itself and
 * writes it without that script; `restore` puts the saved one back. npm looks for `prepare` again after
 * `prepack`, so `prepack` builds what `prepare` would have before it strips.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

const manifest = "package.json";
const saved = "package.json.orig";
const mode = process.argv[2];

if (mode === "strip") {
  // A pack that failed before postpack left the original saved: keep it, it is the one to restore.
  if (!existsSync(saved)) writeFileSync(saved, readFileSync(manifest));
  const packed = JSON.parse(readFileSync(saved, "utf8"));
  delete packed.scripts.prepare;
  writeFileSync(manifest, JSON.stringify(packed, null, 2) + "\n");
} else if (mode === "restore") {
  if (existsSync(saved)) renameSync(saved, manifest);
} else {
  throw new Error("usage: node scripts/packManifest.mjs strip|restore");
}

// Copies the front-end packages installed by `npm ci` into the Python package.
// No CDN, no hand-copied files: what is served is what package-lock.json pins.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "src", "earful", "web", "static", "vendor");
const files = {
  "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
  "sse.js": "node_modules/htmx-ext-sse/dist/sse.js",
  "chart.umd.js": "node_modules/chart.js/dist/chart.umd.js",
  // Only the browser tests load it (injected into each page they check); no page links it.
  "axe.min.js": "node_modules/axe-core/axe.min.js",
};
mkdirSync(out, { recursive: true });
const versions = {};
for (const [name, src] of Object.entries(files)) {
  copyFileSync(join(root, src), join(out, name));
  const pkg = src.split("/").slice(0, 2).join("/");
  versions[name] = JSON.parse(readFileSync(join(root, pkg, "package.json"), "utf8")).version;
}
writeFileSync(join(out, "VERSIONS.json"), JSON.stringify(versions, null, 2) + "\n");
console.log("static vendor files:", versions);

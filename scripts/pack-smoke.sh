#!/usr/bin/env bash
# Packs the package as npm would publish it, installs the tarball into an empty project and
# runs what a user runs: the CLI through npx, require() and import. Then rebuilds the addon
# from the tarball's sources, as `npm install` does on a platform with no prebuild.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-arbiter-pack-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$root"

echo "pack-smoke: building the prebuild and packing"
npm run --silent prebuild >/dev/null
tgz=$(npm pack --silent --pack-destination "$work" | tail -n 1)
listing=$(tar -tzf "$work/$tgz")  # not piped into grep -q: SIGPIPE would trip pipefail
grep -q 'package/prebuilds/linux-x64/gpu-arbiter.node' <<<"$listing" \
  || { echo "pack-smoke: the tarball has no prebuild" >&2; exit 1; }
# The dashboard's page is read from assets/dashboard/ at run time (src/dashboard/assets.ts).
for f in index.html dashboard.js charts.js dashboard.css; do
  grep -q "package/assets/dashboard/$f" <<<"$listing" || { echo "pack-smoke: the tarball has no assets/dashboard/$f" >&2; exit 1; }
done

mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
echo "pack-smoke: installing $tgz into an empty project"
npm install --no-audit --no-fund "$work/$tgz" >/dev/null

export GPU_ARBITER_NVML_LIB=/nonexistent/libnvidia-ml.so.1
status=$(npx --no-install gpu-arbiter status)
echo "$status"
grep -q '(prebuild)' <<<"$status" || { echo "pack-smoke: the installed package did not use its prebuild" >&2; exit 1; }
grep -q '^NVML: not available - ' <<<"$status" || { echo "pack-smoke: unexpected status output" >&2; exit 1; }
npx --no-install gpu-arbiter status --json | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const r = JSON.parse(s);
    if (r.nvml.available !== false || !/not found/.test(r.nvml.unavailableReason)) process.exit(1);
  });'
node -e 'const m = require("gpu-arbiter"); if (typeof m.GpuMonitor !== "function") process.exit(1)'
node --input-type=module -e 'import { GpuMonitor } from "gpu-arbiter"; if (typeof GpuMonitor !== "function") process.exit(1)'

echo "pack-smoke: rebuilding the addon from the tarball's sources"
rm -rf node_modules/gpu-arbiter/prebuilds
npm rebuild gpu-arbiter >/dev/null
status=$(npx --no-install gpu-arbiter status)
grep -q '(local-build)' <<<"$status" || { echo "pack-smoke: the source build was not used" >&2; exit 1; }
echo "pack-smoke: ok"

#!/usr/bin/env bash
# Fetches NVIDIA's real libnvidia-ml.so.1 from several driver branches, and NVIDIA's nvml.h, from
# Debian's non-free archive, for the tests against real NVML libraries (test/nvml-real*.test.ts,
# test/nvml-layout.test.ts). Nothing of the machine's apt setup is changed: apt runs with a
# private config (-c) naming its own sources list (bookworm and bookworm-security non-free,
# signed by the Debian archive keyring), its own lists, cache and status, and its update hooks
# cleared; packages are downloaded (never installed) and unpacked with dpkg -x.
#
# Usage: scripts/fetch-real-nvml.sh [--refresh] [DEST]
#   DEST defaults to node_modules/.cache/gpu-arbiter-real-nvml: ignored by git, and left out of
#   the bundle of build outputs carried to a GPU host (its packer leaves node_modules/.cache out).
# Output: DEST/manifest.tsv, one line per package: <package> <version> <path of the library or
# header>, paths relative to DEST. A manifest younger than 7 days is reused as it is (the whole
# run then takes a few milliseconds); the apt index and the .debs are kept under DEST/apt, so a
# refresh downloads only what changed. Exit 0 when every package was fetched, 2 when the archive
# could not be reached (the message says so), 1 on any other failure.
set -euo pipefail

refresh=0
if [ "${1:-}" = "--refresh" ]; then refresh=1; shift; fi
dest=${1:-node_modules/.cache/gpu-arbiter-real-nvml}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

MIRROR=${GPU_ARBITER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${GPU_ARBITER_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# 535 (current), 470 and 535 Tesla branches, 525 (Tesla, older), and the header (CUDA 11.8's).
PACKAGES=(libnvidia-ml1 libnvidia-tesla-470-ml1 libnvidia-tesla-ml1 libnvidia-tesla-535-ml1 libnvidia-ml-dev)
MAX_AGE_MIN=$((7 * 24 * 60))

# Test files run in parallel and may all ask at once: one fetch at a time, the others then find
# it cached.
if command -v flock >/dev/null; then
  exec 9> "$dest/.lock"
  flock 9
fi

manifest="$dest/manifest.tsv"
# True when a manifest exists and every file it names is there.
manifest_ok() {
  [ -s "$manifest" ] || return 1
  while IFS=$'\t' read -r _pkg _ver rel; do [ -e "$dest/$rel" ] || return 1; done < "$manifest"
}
if [ "$refresh" = 0 ] && manifest_ok && [ -z "$(find "$manifest" -mmin +"$MAX_AGE_MIN")" ]; then
  echo "fetch-real-nvml: cached in $dest"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "fetch-real-nvml: $tool not found (a Debian or Ubuntu host is needed)" >&2; exit 1; }
done
[ -r "$KEYRING" ] || { echo "fetch-real-nvml: $KEYRING missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

apt="$dest/apt"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/sources.list.d" "$apt/preferences.d" "$apt/trusted.gpg.d" "$apt/debs"
: > "$apt/status"
cat > "$apt/sources.list" <<SOURCES
deb [signed-by=$KEYRING] $MIRROR bookworm non-free
deb [signed-by=$KEYRING] $SECURITY_MIRROR bookworm-security non-free
SOURCES
# As root apt hands downloads to the _apt user, who cannot write to a root-owned build/; the
# files stay ours. The #clear lines drop the machine's update hooks (PackageKit, AppStream)
# and extra index targets, so an update of this private index touches nothing else.
sandbox_user=$(id -un)
cat > "$apt/apt.conf" <<CONF
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "$apt/sources.list.d";
Dir::Etc::Preferences "$apt/preferences";
Dir::Etc::PreferencesParts "$apt/preferences.d";
Dir::Etc::Trusted "$apt/trusted.gpg";
Dir::Etc::TrustedParts "$apt/trusted.gpg.d";
Dir::State "$apt";
Dir::State::Lists "$apt/lists";
Dir::State::status "$apt/status";
Dir::Cache "$apt";
Dir::Cache::Archives "$apt/archives";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "$sandbox_user";
Acquire::Languages "none";
Acquire::Retries "1";
Acquire::http::Timeout "10";
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear Acquire::IndexTargets::deb::DEP-11;
#clear Acquire::IndexTargets::deb::DEP-11-icons;
#clear Acquire::IndexTargets::deb::DEP-11-icons-small;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large;
#clear Acquire::IndexTargets::deb::DEP-11-icons-hidpi;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large-hidpi;
#clear Acquire::IndexTargets::deb::Contents-deb;
CONF

t0=$(date +%s%N)
log="$apt/update.log"
if ! apt-get -c "$apt/apt.conf" -q update > "$log" 2>&1 || grep -qE '^(W|E): (Failed to fetch|Some index files failed)' "$log"; then
  echo "fetch-real-nvml: the Debian archive could not be reached ($MIRROR, $SECURITY_MIRROR):" >&2
  grep -E '^(W|E|Err):' "$log" | head -n 5 >&2 || true
  if manifest_ok; then echo "fetch-real-nvml: using the older copy in $dest" >&2; exit 0; fi
  exit 2
fi
t1=$(date +%s%N)
( cd "$apt/debs" && apt-get -c "$apt/apt.conf" -q download "${PACKAGES[@]}" ) > "$apt/download.log" 2>&1 || {
  echo "fetch-real-nvml: apt-get download failed:" >&2
  tail -n 5 "$apt/download.log" >&2
  exit 1
}
t2=$(date +%s%N)

tmp="$manifest.tmp"
: > "$tmp"
for pkg in "${PACKAGES[@]}"; do
  deb=$(ls -t "$apt/debs/${pkg}_"*.deb | head -n 1)
  ver=$(dpkg-deb -f "$deb" Version)
  root="pkgs/$pkg"
  rm -rf "${dest:?}/$root"
  mkdir -p "$dest/$root"
  dpkg-deb -x "$deb" "$dest/$root"
  if [ "$pkg" = libnvidia-ml-dev ]; then
    file=$(cd "$dest" && find "$root" -name nvml.h | head -n 1)
  else
    file=$(cd "$dest" && find "$root" -name 'libnvidia-ml.so.1' | head -n 1)
  fi
  [ -n "$file" ] || { echo "fetch-real-nvml: $pkg $ver holds no library or header" >&2; exit 1; }
  printf '%s\t%s\t%s\n' "$pkg" "$ver" "$file" >> "$tmp"
done
mv "$tmp" "$manifest"
t3=$(date +%s%N)
echo "fetch-real-nvml: index $(((t1 - t0) / 1000000)) ms, download $(((t2 - t1) / 1000000)) ms, unpack $(((t3 - t2) / 1000000)) ms -> $dest"
cat "$manifest"

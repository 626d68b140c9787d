// Text helpers shared by the CLI views.

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** 1536 MiB -> "1.5 GiB"; null -> "unknown". */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'unknown';
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`;
  return `${(n / MiB).toFixed(0)} MiB`;
}

/** A fixed-width bar: bar(0.25, 8) -> "[##......]". */
export function bar(ratio: number, width = 20): string {
  const clamped = Math.max(0, Math.min(1, ratio));
  const full = Math.round(clamped * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

export function orUnknown(value: number | null | undefined, unit = ''): string {
  return value === null || value === undefined ? 'unknown' : `${Number.isInteger(value) ? value : value.toFixed(1)}${unit}`;
}

/** CUDA version as NVML encodes it: 12040 -> "12.4". */
export function cudaVersion(v: number | null): string {
  if (v === null) return 'unknown';
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

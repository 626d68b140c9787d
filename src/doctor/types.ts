// The shape of one doctor check, shared by the local checks (doctor.ts) and the checks of what
// lies beyond the GPU (remote.ts).

export type Verdict = 'PASS' | 'WARN' | 'FAIL';

export interface CheckResult {
  /** Stable id, e.g. 'nvml.persistence'. */
  id: string;
  verdict: Verdict;
  /** What was found. */
  detail: string;
  /** What to do about it (absent on PASS). */
  fix?: string;
}

// Builds the fixtures the suites share, once per `npm test` run.
import { buildMockNvml } from './mock-nvml-build';

export default function setup(): void {
  buildMockNvml();
}

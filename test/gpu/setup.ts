// `npm run test:gpu`'s global setup: starts an empty report and prints it when the run ends,
// so a GPU session's log ends with a short account of what was measured (or why nothing was).
import * as fs from 'node:fs';
import { REPORT } from './real-gpu';

export default function setup(): () => void {
  fs.rmSync(REPORT, { force: true });
  return () => {
    const body = fs.existsSync(REPORT) ? fs.readFileSync(REPORT, 'utf8').trim() : '';
    console.log(`\n== test:gpu report ==\n${body || 'nothing recorded'}\n`);
  };
}

'use strict';
// A worker's record file: one line per event, appended with writeSync so that a line written
// before a SIGKILL is in the page cache (and read by the runner) whatever happens next.
//   S <res> <units> <fence> <ns>   the hold was seen granted (after acquire resolved)
//   E <res> <fence> <ns>           the hold's critical section ended (written BEFORE release)
//   L <res> <fence> <ns> <reason>  the hold's `lost` signal fired
//   X <message>                    an error the worker did not expect (the runner fails on any)
//   C <code> <count>               expected errors by code (written once, at a clean exit)
// Times are process.hrtime.bigint() (CLOCK_MONOTONIC): comparable across processes of the host.
const fs = require('node:fs');

class RecordLog {
  constructor(file) {
    this.fd = fs.openSync(file, 'a');
  }

  write(line) {
    fs.writeSync(this.fd, `${line}\n`);
  }

  start(res, units, fence) {
    this.write(`S ${res} ${units} ${fence} ${process.hrtime.bigint()}`);
  }

  end(res, fence) {
    this.write(`E ${res} ${fence} ${process.hrtime.bigint()}`);
  }

  lost(res, fence, reason) {
    this.write(`L ${res} ${fence} ${process.hrtime.bigint()} ${String(reason).replace(/\s+/g, '_')}`);
  }

  unexpected(message) {
    this.write(`X ${String(message).replace(/\s+/g, ' ').slice(0, 2000)}`);
  }

  close() {
    fs.closeSync(this.fd);
  }
}

/**
 * Reads one worker's file: its holds (by resource and fencing token, in the order seen) and its
 * unexpected errors. A torn last line (killed mid-write) is ignored.
 */
function readRecords(file) {
  const holds = [];
  const byKey = new Map();
  const unexpected = [];
  const expected = {};
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const lines = text.split('\n');
  if (!text.endsWith('\n')) lines.pop();
  for (const line of lines) {
    if (line === '') continue;
    const f = line.split(' ');
    const key = `${f[1]} ${f[f[0] === 'S' ? 3 : 2]}`;
    if (f[0] === 'S') {
      const h = { res: f[1], units: Number(f[2]), fence: Number(f[3]), start: Number(f[4]), end: null, lostAt: null, lostReason: null };
      holds.push(h);
      byKey.set(key, h);
    } else if (f[0] === 'E' || f[0] === 'L') {
      const h = byKey.get(key);
      if (h === undefined) {
        // `lost` of a hold this worker never saw start (granted and lost before acquire resolved).
        if (f[0] === 'L') continue;
        unexpected.push(`end record without a start: ${line}`);
      } else if (f[0] === 'E') h.end = Number(f[3]);
      else if (h.lostAt === null) {
        h.lostAt = Number(f[3]);
        h.lostReason = f[4];
      }
    } else if (f[0] === 'X') unexpected.push(line.slice(2));
    else if (f[0] === 'C') expected[f[1]] = (expected[f[1]] ?? 0) + Number(f[2]);
  }
  return { holds, unexpected, expected };
}

module.exports = { RecordLog, readRecords };

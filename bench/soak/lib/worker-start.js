'use strict';
// What every soak worker does first (../host/worker.js, ../redis/worker.js): reads its config
// (JSON in argv[2]), opens its record file, turns an uncaught exception or unhandled rejection
// into an "unexpected" record (which fails the run) and exit 3, and listens for the runner's
// 'stop'. Returns { cfg, log, stopping() }.
const { RecordLog } = require('./record-log');

function startWorker() {
  const cfg = JSON.parse(process.argv[2]);
  const log = new RecordLog(cfg.file);
  let stopping = false;
  for (const ev of ['uncaughtException', 'unhandledRejection']) {
    process.on(ev, (err) => {
      log.unexpected(`${ev}: ${err?.stack ?? err}`);
      process.exit(3);
    });
  }
  process.on('message', (m) => {
    if (m === 'stop') stopping = true;
  });
  return { cfg, log, stopping: () => stopping };
}

module.exports = { startWorker };

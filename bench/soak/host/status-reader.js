'use strict';
// What an operator's `gpu-arbiter status` (or a dashboard polling it) does during the soak:
// reads the ledger through inspectHostNamespace() every 20 ms (not faster: each read also
// sweeps the ledger, which would shorten the reclaim figures the suite reports). A read that has not returned
// after 3 s is a hang (it holds the ledger lock: every worker waits behind it): a watchdog
// thread of this process, which the stuck JS thread cannot block, prints "hang" and SIGKILLs the
// process (the ledger repairs an owner-died lock); the runner counts it and starts another.
// See bench/soak/repro/host-inspect-hang.js.
const { Worker } = require('node:worker_threads');
const { inspectHostNamespace } = require('../../../dist');

const namespace = process.argv[2];
const beat = new Float64Array(new SharedArrayBuffer(8));
beat[0] = Date.now();
const watchdog = new Worker(
  `const { workerData } = require('node:worker_threads');
   const beat = new Float64Array(workerData);
   setInterval(() => {
     if (Date.now() - beat[0] < 3000) return;
     require('node:fs').writeSync(1, 'hang\\n');
     process.kill(process.pid, 'SIGKILL');
   }, 100);`,
  { eval: true, workerData: beat.buffer },
);
watchdog.unref();
let reads = 0;
process.on('message', (m) => {
  if (m === 'stop') {
    process.send({ reads }, () => process.exit(0));
  }
});
function read() {
  inspectHostNamespace(namespace);
  beat[0] = Date.now();
  if (++reads === 50) {
    process.send({ reads });
    reads = 0;
  }
  setTimeout(read, 20);
}
read();

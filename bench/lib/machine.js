'use strict';
// Describes the machine a benchmark ran on, for the header of a results file.
const os = require('node:os');

function machine() {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString().slice(0, 10),
    cpu: `${cpus.length} x ${cpus[0] ? cpus[0].model.trim() : 'unknown CPU'}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

function machineHeader(m = machine()) {
  return [`- date: ${m.date}`, `- machine: ${m.cpu}, ${m.memory} RAM, ${m.os}`, `- node: ${m.node}`].join('\n');
}

module.exports = { machine, machineHeader };

// `gpu-arbiter exec`: the signals the wrapper takes on its command's behalf (SIGINT, SIGTERM,
// SIGHUP), and whether one must be passed on or has reached the command already.
import * as fs from 'node:fs';

export const RELAYED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type RelayedSignal = (typeof RELAYED_SIGNALS)[number];

/**
 * Catches SIGINT, SIGTERM and SIGHUP for as long as it is installed (so the wrapper is not killed
 * by them) and hands each to `onSignal`. `first` is the first one caught.
 */
export class SignalRelay {
  first: RelayedSignal | null = null;
  private readonly handlers = new Map<RelayedSignal, () => void>();

  constructor(private readonly onSignal: (signal: RelayedSignal) => void) {}

  install(): this {
    for (const signal of RELAYED_SIGNALS) {
      const handler = (): void => {
        this.first ??= signal;
        this.onSignal(signal);
      };
      this.handlers.set(signal, handler);
      process.on(signal, handler);
    }
    return this;
  }

  uninstall(): void {
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.handlers.clear();
  }
}

/**
 * True when the terminal has delivered `signal` to the command already: a SIGINT (Ctrl-C) goes
 * to the terminal's whole foreground process group, which holds the wrapper and its command
 * (spawned in the wrapper's group, so it keeps the terminal). Passing it on as well would make
 * the command see it twice - in Python, a second KeyboardInterrupt inside the first one's cleanup.
 * SIGTERM and SIGHUP are always passed on. Reads /proc/self/stat (pgrp and the terminal's
 * foreground group, tpgid); where that fails, the signal is passed on.
 */
export function terminalDelivered(signal: RelayedSignal): boolean {
  if (signal !== 'SIGINT') return false;
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    // "pid (comm) state ppid pgrp session tty_nr tpgid ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(fields[2]);
    const ttyNr = Number(fields[4]);
    const tpgid = Number(fields[5]);
    return ttyNr !== 0 && tpgid > 0 && tpgid === pgrp;
  } catch {
    return false;
  }
}

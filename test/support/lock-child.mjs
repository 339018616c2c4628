// A process that opens the task journal of a state directory at an agreed instant, for
// test/tasks/journal-lock.test.ts. argv: the directory. Prints {"ready": true} once loaded, reads the
// instant (epoch ms) as one line on stdin, spins until then, opens the journal and prints one JSON line —
// {"won": true} or {"won": false, "message"} — and, when it won, holds the journal until stdin closes.
// Log lines go to stderr. Plain JS on the compiled dist/ (vitest's global setup builds it): no loader, so
// the contenders start in a fraction of the time, even on a loaded machine.
import { createInterface } from 'node:readline';
import { createLogger } from '../../dist/log.js';
import { Journal } from '../../dist/tasks/journal.js';

const dir = process.argv[2];
const log = createLogger('debug', { write: (line) => process.stderr.write(line) });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
const startAt = Number((await lines.next()).value);
const early = Date.now() < startAt;
// Busy-wait, not a timer: every contender leaves this loop within a millisecond of the others.
while (Date.now() < startAt) {
  // spin
}
try {
  const journal = await Journal.open({ dir, retentionMs: 86_400_000, log });
  process.stdout.write(`${JSON.stringify({ won: true, pid: process.pid, early })}\n`);
  // Hold until stdin closes.
  while (!(await lines.next()).done) {
    // ignore
  }
  await journal.close();
  process.exit(0);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ won: false, pid: process.pid, early, message: err.message })}\n`);
  process.exit(0);
}

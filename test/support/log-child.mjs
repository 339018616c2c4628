// A process that logs N numbered lines through the server's stdout logger and then ends in one of the
// ways a server ends, for test/e2e/log-exit.test.ts: `node log-child.mjs N MODE` (plain JS on dist/).
//   exit      process.exit(0) right after the last line (what the SIGTERM drain does)
//   return    nothing left to do: the event loop empties
//   throw     an uncaught exception
//   sigterm   waits for SIGTERM, then logs and exits as src/serve.ts's drain does
// A third argument `nonblocking` touches process.stdout first, which makes a piped fd 1 non-blocking
// (libuv does so): a slow reader then shows as EAGAIN instead of a blocking write.
import { createLogger } from '../../dist/log.js';

const [count = '1000', mode = 'exit', stdout = 'blocking'] = process.argv.slice(2);
if (stdout === 'nonblocking') void process.stdout.writable;
const log = createLogger('info');
const n = Number(count);
// A realistic line: an access-log line's fields and some padding.
const pad = 'x'.repeat(200);

const logAll = () => {
  for (let i = 0; i < n; i++) log.info('line', { i, requestId: `R${i}`, method: 'GET', path: '/bucket/key.mp4', status: 200, pad });
};

if (mode === 'sigterm') {
  process.on('SIGTERM', () => {
    logAll();
    log.info('stopped');
    process.exit(0);
  });
  log.info('ready');
  setInterval(() => undefined, 1000);
} else {
  logAll();
  if (mode === 'exit') process.exit(0);
  if (mode === 'throw') throw new Error('crash after logging');
}

// A stand-in capture worker for test/unit/media/pool.test.ts: `never-ready` spins without ever saying it
// is ready; `spin` says it is ready, then keeps a CPU busy while idle. Plain JS: no loader, no FFmpeg.
const mode = JSON.parse(process.argv[2] ?? '""');
const burn = () => {
  const until = Date.now() + 50;
  while (Date.now() < until);
  setImmediate(burn);
};
process.on('disconnect', () => process.exit(0));
if (mode === 'spin') process.send({ type: 'ready', pid: process.pid, versions: {} });
burn();

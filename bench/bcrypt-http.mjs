// The password paths' floor over HTTP: a server that does nothing per request but bcrypt
// (bench/bcrypt-http-server.mjs), under the same load generator on the same box, against the bare
// bcrypt ceiling (bench/bcrypt-ceiling.mjs), alternating. Its share of the ceiling is the most any server
// that also reads a database and writes a session could reach here: the HTTP stack and the load
// generator share the cores with bcrypt. bench/peers.mjs measures it too, beside both servers.
//   node bench/bcrypt-http.mjs --cost=10 --connections=16 --duration=8 --pairs=2
import { args, bcryptCeiling, bcryptOverHttp, fmtCpu, log, main, median, pct, report, table } from './lib.mjs';

const opt = args({ cost: 10, connections: 16, duration: 8, pairs: 2, settle: 2 });

await main(async () => {
  const ceilings = [];
  const http = [];
  for (let i = 0; i < opt.pairs; i++) {
    ceilings.push((await bcryptCeiling(opt.cost, { duration: opt.duration / 2 })).opsPerSec);
    const r = await bcryptOverHttp(opt.cost, { connections: opt.connections, duration: opt.duration, settle: opt.settle });
    log(`pair ${i + 1}: ceiling ${ceilings.at(-1)}/s, over HTTP ${r.rps}/s (${fmtCpu(r.cpu)})`);
    http.push(r);
  }
  const ceiling = median(ceilings);
  const rps = median(http.map((r) => r.rps));
  const rows = [{ cost: opt.cost, 'bcrypt ceiling /s': ceiling.toFixed(1), 'bcrypt over HTTP /s': rps.toFixed(1), 'share of the ceiling': pct(rps / ceiling), 'p50 ms': median(http.map((r) => r.p50)) }];
  report('bcrypt-http', table(rows), { cost: opt.cost, connections: opt.connections, ceilings, runs: http });
});

#!/usr/bin/env node
// ONNX Runtime side of the engine-vs-ORT benchmark (tools/bench/ann_vs_ort.py drives it). Same line protocol
// as `snnconv_bench serve`: one JSON request per stdin line, one JSON reply per stdout line.
//   {"cmd":"load","id":ID,"model":PATH,"inputs":DIR,"threads":N[,"opt_level":"all"]}
//   {"cmd":"run","id":ID,"n":R}  -> {"ms":[...], "cpu_ms":[...]}  (session.run only, feeds built once at load;
//                                   cpu_ms: the process's CPU time, every thread)
//   {"cmd":"outputs","id":ID,"dir":DIR} / {"cmd":"unload","id":ID} / {"cmd":"quit"}
// Session: CPU execution provider, intraOpNumThreads = N, interOpNumThreads = 1, sequential execution,
// graph optimisation level 'all' (as tools/ort/ort_run.js). onnxruntime-node comes from tools/ort
// (cd tools/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install).
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

let ort;
try {
  ort = require(path.join(__dirname, '..', 'ort', 'node_modules', 'onnxruntime-node'));
} catch (e) {
  process.stderr.write('ort_server: cannot load onnxruntime-node (' + e.message + '); install it with: cd ' +
    path.join(__dirname, '..', 'ort') + ' && ONNXRUNTIME_NODE_INSTALL=skip npm install\n');
  process.exit(2);
}

const DTYPES = {
  float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array, bool: Uint8Array,
};

function readFeeds(dir) {
  const man = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const feeds = {};
  for (const inp of man.inputs) {
    const Ctor = DTYPES[inp.dtype];
    if (!Ctor) throw new Error(`unsupported dtype ${inp.dtype}`);
    const buf = fs.readFileSync(path.join(dir, inp.file));
    const ab = new ArrayBuffer(buf.length);
    new Uint8Array(ab).set(buf);
    feeds[inp.name] = new ort.Tensor(inp.dtype, new Ctor(ab), inp.shape.map(Number));
  }
  return feeds;
}

const sessions = new Map();

async function handle(req) {
  const s = sessions.get(req.id);
  switch (req.cmd) {
    case 'load': {
      const t0 = process.hrtime.bigint();
      const session = await ort.InferenceSession.create(path.resolve(req.model), {
        executionProviders: ['cpu'],
        intraOpNumThreads: req.threads || 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: req.opt_level || 'all',
      });
      const feeds = readFeeds(req.inputs);
      for (const n of Object.keys(feeds)) if (!session.inputNames.includes(n)) delete feeds[n];
      sessions.set(req.id, { session, feeds, last: null });
      return { load_ms: Number(process.hrtime.bigint() - t0) / 1e6, ort_version: ort.env.versions.common };
    }
    case 'run': {
      if (!s) throw new Error(`no session '${req.id}'`);
      const ms = [], cpu_ms = [];
      for (let i = 0; i < (req.n || 1); i++) {
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        s.last = await s.session.run(s.feeds);
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
        const c = process.cpuUsage(c0);
        cpu_ms.push((c.user + c.system) / 1e3);
      }
      return { ms, cpu_ms };
    }
    case 'outputs': {
      if (!s || !s.last) throw new Error(`no run of '${req.id}' yet`);
      fs.mkdirSync(req.dir, { recursive: true });
      const outputs = s.session.outputNames.map((name, i) => {
        const t = s.last[name];
        const file = `out${i}.bin`;
        fs.writeFileSync(path.join(req.dir, file), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        return { name, dtype: t.type, shape: t.dims.map(Number), file };
      });
      fs.writeFileSync(path.join(req.dir, 'manifest.json'), JSON.stringify({ outputs }, null, 1) + '\n');
      return {};
    }
    case 'unload':
      if (s) await s.session.release();
      sessions.delete(req.id);
      return {};
    default:
      throw new Error(`unknown command ${req.cmd}`);
  }
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let reply;
    try {
      const req = JSON.parse(line);
      if (req.cmd === 'quit') break;
      reply = { ok: true, ...(await handle(req)) };
    } catch (e) {
      reply = { ok: false, error: e && e.message ? e.message : String(e) };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
  process.exit(0);
}

main();

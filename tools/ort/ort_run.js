#!/usr/bin/env node
// Reference runner: executes an ONNX model with ONNX Runtime (CPU, onnxruntime-node) on raw tensors.
//
//   node tools/ort/ort_run.js MODEL.onnx IN_DIR OUT_DIR [--threads N] [--repeat R] [--warmup W]
//                            [--opt-level disabled|basic|extended|layout|all]
//
// IN_DIR/manifest.json: {"inputs": [{"name": "...", "dtype": "float32", "shape": [2, 3], "file": "x.bin"}]}
// Each file holds the tensor as raw little-endian bytes in row-major order (bool: one byte per element).
// OUT_DIR receives one raw file per model output and manifest.json:
//   {"model": ..., "ort_version": ..., "session": {...}, "outputs": [{"name","dtype","shape","file"}],
//    "timing": {"runs": R, "warmup": W, "median_ms", "min_ms", "mean_ms", "max_ms", "stdev_ms"}}
// ("timing" only with --repeat; the outputs are those of the last run).
// Many samples in one session: IN_DIR/manifest.json may say "samples": S; each input file then holds S
// tensors of the given shape one after another, the model runs once per sample, and each output file holds
// the S results one after another (OUT_DIR/manifest.json repeats "samples" and gives one sample's shape).
// This is how `snnconv export --samples DIR` writes a dataset split (models exported at batch 1).
// Session: CPU execution provider, intraOpNumThreads=N (default 1), interOpNumThreads=1,
// sequential execution, graphOptimizationLevel 'all' unless --opt-level says otherwise.
// Setup: cd tools/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install   (a plain install fails).
'use strict';

const fs = require('fs');
const path = require('path');

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  process.stderr.write('ort_run: cannot load onnxruntime-node (' + e.message + ')\n' +
    'install it with: cd ' + __dirname + ' && ONNXRUNTIME_NODE_INSTALL=skip npm install\n');
  process.exit(2);
}

// dtype name -> [typed array constructor, bytes per element]
const DTYPES = {
  float32: [Float32Array, 4],
  float64: [Float64Array, 8],
  int8: [Int8Array, 1],
  uint8: [Uint8Array, 1],
  int16: [Int16Array, 2],
  uint16: [Uint16Array, 2],
  int32: [Int32Array, 4],
  uint32: [Uint32Array, 4],
  int64: [BigInt64Array, 8],
  uint64: [BigUint64Array, 8],
  bool: [Uint8Array, 1],
  float16: [Uint16Array, 2],
};
const ALIASES = { float: 'float32', double: 'float64', half: 'float16' };
const OPT_LEVELS = ['disabled', 'basic', 'extended', 'layout', 'all'];

function usage(msg) {
  if (msg) process.stderr.write('ort_run: ' + msg + '\n');
  process.stderr.write('usage: node ort_run.js MODEL.onnx IN_DIR OUT_DIR [--threads N] [--repeat R] ' +
    '[--warmup W] [--opt-level disabled|basic|extended|layout|all]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const pos = [];
  const opt = { threads: 1, repeat: 0, warmup: 0, optLevel: 'all', warmupGiven: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const takeInt = (name, min) => {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v) || parseInt(v, 10) < min) usage(`${name} needs an integer >= ${min}`);
      return parseInt(v, 10);
    };
    if (a === '--threads') opt.threads = takeInt(a, 1);
    else if (a === '--repeat') opt.repeat = takeInt(a, 1);
    else if (a === '--warmup') { opt.warmup = takeInt(a, 0); opt.warmupGiven = true; }
    else if (a === '--opt-level') {
      opt.optLevel = argv[++i];
      if (!OPT_LEVELS.includes(opt.optLevel)) usage('--opt-level must be one of ' + OPT_LEVELS.join(', '));
    } else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) usage('unknown option ' + a);
    else pos.push(a);
  }
  if (pos.length !== 3) usage('expected MODEL.onnx IN_DIR OUT_DIR');
  if (opt.warmupGiven && !opt.repeat) usage('--warmup needs --repeat');
  [opt.model, opt.inDir, opt.outDir] = pos;
  return opt;
}

function dtypeInfo(name) {
  const d = ALIASES[name] || name;
  if (!DTYPES[d]) throw new Error(`unsupported dtype '${name}'`);
  return [d, ...DTYPES[d]];
}

function readInputs(inDir) {
  const manPath = path.join(inDir, 'manifest.json');
  const man = JSON.parse(fs.readFileSync(manPath, 'utf8'));
  if (!man || !Array.isArray(man.inputs)) throw new Error(`${manPath}: no "inputs" array`);
  const samples = man.samples === undefined ? 0 : Number(man.samples);
  if (man.samples !== undefined && !(Number.isInteger(samples) && samples >= 1)) {
    throw new Error(`${manPath}: "samples" must be an integer >= 1`);
  }
  const feedsList = [];
  for (let s = 0; s < Math.max(samples, 1); s++) feedsList.push({});
  const feeds = feedsList[0];
  for (const inp of man.inputs) {
    for (const k of ['name', 'dtype', 'shape', 'file']) {
      if (inp[k] === undefined) throw new Error(`${manPath}: an input lacks "${k}"`);
    }
    const [dtype, Ctor, size] = dtypeInfo(inp.dtype);
    const shape = inp.shape.map(Number);
    const count = shape.reduce((a, b) => a * b, 1);
    const buf = fs.readFileSync(path.resolve(inDir, inp.file));
    const per = count * size;
    if (buf.length !== per * Math.max(samples, 1)) {
      throw new Error(`input '${inp.name}': ${inp.file} has ${buf.length} bytes, ` +
        `shape [${shape}] ${dtype}` + (samples ? ` x ${samples} samples` : '') + ` needs ${per * Math.max(samples, 1)}`);
    }
    for (let s = 0; s < feedsList.length; s++) {
      // copy into a fresh, aligned ArrayBuffer (Buffers may be pooled / unaligned)
      const ab = new ArrayBuffer(per);
      new Uint8Array(ab).set(buf.subarray(s * per, (s + 1) * per));
      let data = new Ctor(ab);
      if (dtype === 'bool') data = Uint8Array.from(data, (v) => (v ? 1 : 0));
      feedsList[s][inp.name] = new ort.Tensor(dtype, data, shape);
    }
  }
  return samples ? { feeds, feedsList, samples } : { feeds, feedsList: null, samples: 0 };
}

function safeFileName(name, used) {
  let base = name.replace(/[^A-Za-z0-9._-]/g, '_') || 'output';
  let f = base + '.bin';
  for (let k = 1; used.has(f); k++) f = `${base}_${k}.bin`;
  used.add(f);
  return f;
}

function tensorBytes(t) {
  const d = t.data;
  if (t.type === 'bool') return Buffer.from(Uint8Array.from(d, (v) => (v ? 1 : 0)));
  if (t.type === 'string') throw new Error('string outputs are not supported');
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const n = s.length;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const stdev = Math.sqrt(s.reduce((a, b) => a + (b - mean) * (b - mean), 0) / n);
  const r = (x) => Math.round(x * 1e4) / 1e4;
  return { median_ms: r(median), min_ms: r(s[0]), mean_ms: r(mean), max_ms: r(s[n - 1]), stdev_ms: r(stdev) };
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const { feeds, feedsList, samples } = readInputs(opt.inDir);
  const sessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: opt.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opt.optLevel,
  };
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(path.resolve(opt.model), sessionOptions);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length) throw new Error(`model inputs missing from manifest: ${missing.join(', ')}`);
  const extra = Object.keys(feeds).filter((n) => !session.inputNames.includes(n));
  for (const f of feedsList || [feeds]) for (const n of extra) delete f[n];
  if (extra.length) process.stderr.write(`ort_run: ignoring inputs the model does not take: ${extra.join(', ')}\n`);

  let results;
  let timing = null;
  let perSample = null;  // samples mode: output name -> [Buffer per sample]
  if (samples) {
    if (opt.repeat) usage('--repeat cannot be combined with a "samples" manifest');
    perSample = {};
    for (const f of feedsList) {
      results = await session.run(f);
      for (const name of session.outputNames) {
        (perSample[name] = perSample[name] || []).push(Buffer.from(tensorBytes(results[name])));
      }
    }
  } else if (opt.repeat) {
    for (let i = 0; i < opt.warmup; i++) results = await session.run(feeds);
    const ms = [];
    for (let i = 0; i < opt.repeat; i++) {
      const s = process.hrtime.bigint();
      results = await session.run(feeds);
      ms.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    timing = { runs: opt.repeat, warmup: opt.warmup, ...stats(ms) };
  } else {
    results = await session.run(feeds);
  }

  fs.mkdirSync(opt.outDir, { recursive: true });
  const used = new Set(['manifest.json']);
  const outputs = [];
  for (const name of session.outputNames) {
    const t = results[name];
    const file = safeFileName(name, used);
    fs.writeFileSync(path.join(opt.outDir, file), perSample ? Buffer.concat(perSample[name]) : tensorBytes(t));
    outputs.push({ name, dtype: t.type, shape: t.dims.map(Number), file });
  }
  const manifest = {
    model: path.resolve(opt.model),
    ort_version: ort.env.versions && ort.env.versions.common,
    session: {
      execution_provider: 'cpu',
      intra_op_num_threads: opt.threads,
      inter_op_num_threads: 1,
      execution_mode: 'sequential',
      graph_optimization_level: opt.optLevel,
      load_ms: Math.round(loadMs * 1e3) / 1e3,
    },
    outputs,
  };
  if (samples) manifest.samples = samples;
  if (timing) manifest.timing = timing;
  fs.writeFileSync(path.join(opt.outDir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  for (const o of outputs) {
    process.stdout.write(`${o.name} ${o.dtype} [${o.shape.join(', ')}]` + (samples ? ` x ${samples} samples` : '') +
      ` -> ${o.file}\n`);
  }
  if (timing) {
    process.stdout.write(`timing: ${timing.runs} runs after ${timing.warmup} warm-up: median ${timing.median_ms} ms, ` +
      `min ${timing.min_ms} ms, mean ${timing.mean_ms} ms\n`);
  }
}

main().catch((e) => {
  process.stderr.write('ort_run: ' + (e && e.message ? e.message : String(e)) + '\n');
  process.exit(1);
});

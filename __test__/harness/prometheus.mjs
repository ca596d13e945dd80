// A strict parser of the Prometheus text exposition format (0.0.4): every line is a HELP, a TYPE,
// a comment or a sample; names and labels must be valid, label values correctly escaped, values
// numbers; a TYPE comes before its samples and once; a family's samples are contiguous; a sample
// line is unique. Anything else throws, naming the line.
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES = ['_total', '_bucket', '_sum', '_count', '_created'];

function parseValue(v, where) {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) throw new Error(`${where}: bad value ${JSON.stringify(v)}`);
  return Number(v);
}

function parseLabels(s, where) {
  const labels = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    if (s[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      if (j >= s.length) throw new Error(`${where}: unterminated label value`);
      const c = s[j];
      if (c === '\\') {
        const n = s[j + 1];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else throw new Error(`${where}: bad escape \\${n}`);
        j += 2;
      } else if (c === '"') {
        j++;
        break;
      } else {
        value += c;
        j++;
      }
    }
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    labels[name] = value;
    if (j < s.length) {
      if (s[j] !== ',') throw new Error(`${where}: expected ',' between labels`);
      j++;
    }
    i = j;
  }
  return labels;
}

export function parseExposition(text) {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const types = {};
  const help = {};
  const samples = [];
  const seen = new Set();
  const done = new Set();
  let current = null;
  const familyOf = (name) => {
    if (types[name]) return name;
    for (const s of SUFFIXES) if (name.endsWith(s) && types[name.slice(0, -s.length)]) return name.slice(0, -s.length);
    return name;
  };
  const enter = (family, where) => {
    if (family === current) return;
    if (done.has(family)) throw new Error(`${where}: family ${family} is not contiguous`);
    if (current) done.add(current);
    current = family;
  };
  text.slice(0, -1).split('\n').forEach((line, n) => {
    const where = `line ${n + 1}`;
    if (line === '') throw new Error(`${where}: empty line`);
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`);
      enter(name, where);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: bad type ${rest}`);
        if (types[name]) throw new Error(`${where}: second TYPE for ${name}`);
        if (samples.some((s) => familyOf(s.name) === name)) throw new Error(`${where}: TYPE after samples of ${name}`);
        types[name] = rest;
      } else {
        if (help[name] !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        help[name] = rest;
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample: ${JSON.stringify(line)}`);
    const [, name, labelText, value] = m;
    const labels = labelText ? parseLabels(labelText, where) : {};
    enter(familyOf(name), where);
    const id = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(id)) throw new Error(`${where}: duplicate sample ${name}`);
    seen.add(id);
    const type = types[familyOf(name)];
    const v = parseValue(value, where);
    if (type === 'counter' && !(v >= 0)) throw new Error(`${where}: counter ${name} is ${value}`);
    samples.push({ name, labels, value: v });
  });
  // Histograms: buckets by ascending `le`, cumulative, ending at +Inf equal to _count; _sum present.
  for (const [name, type] of Object.entries(types)) {
    if (type !== 'histogram') continue;
    const buckets = samples.filter((x) => x.name === `${name}_bucket`);
    if (buckets.length === 0) throw new Error(`histogram ${name} has no buckets`);
    let le = -Infinity;
    let count = 0;
    for (const b of buckets) {
      const at = parseValue(b.labels.le ?? '', `${name}_bucket le`);
      if (!(at > le)) throw new Error(`histogram ${name}: le ${b.labels.le} not ascending`);
      if (b.value < count) throw new Error(`histogram ${name}: bucket le=${b.labels.le} is not cumulative`);
      le = at;
      count = b.value;
    }
    if (le !== Infinity) throw new Error(`histogram ${name} lacks the +Inf bucket`);
    const total = samples.find((x) => x.name === `${name}_count`);
    if (!total || total.value !== count) throw new Error(`histogram ${name}: _count differs from the +Inf bucket`);
    if (!samples.some((x) => x.name === `${name}_sum`)) throw new Error(`histogram ${name} lacks _sum`);
  }
  return {
    types,
    help,
    samples,
    /** The value of the one sample `name` with exactly `labels`; throws when absent. */
    value(name, labels = {}) {
      const want = JSON.stringify(Object.entries(labels).sort());
      const s = samples.find((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want);
      if (!s) throw new Error(`no sample ${name}${want}`);
      return s.value;
    },
  };
}

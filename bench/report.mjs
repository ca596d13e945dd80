// Plain-text table and JSON output.
import { writeFileSync } from 'node:fs';

const HEADERS = ['workload', 'client', 'ops/s', 'p50 ms', 'p99 ms', 'CPU ms/1k ops', 'RSS MB', 'ratio vs ioredis'];
const RIGHT = [false, false, true, true, true, true, true, true];

function fmtNum(x, digits) {
  if (x == null || !Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtMs(x) {
  if (x == null || !Number.isFinite(x)) return '-';
  return x < 10 ? x.toFixed(3) : x.toFixed(1);
}

/**
 * rows: [{ workload, client, cell }] where cell is a medianCell() result or { failed }.
 * baselineOps: Map workload -> baseline ops/s.
 */
export function formatTable(rows, baselineOps) {
  const lines = rows.map(({ workload, client, cell, unit }) => {
    if (cell.failed) return { cells: [workload, client], note: cell.failed + (cell.firstError ? `: ${cell.firstError}` : '') };
    const base = baselineOps.get(workload);
    const ratio = base ? cell.opsPerSec / base : null;
    let note = '';
    if (cell.errors) note = `${cell.errors} failed calls` + (cell.firstError ? ` (${cell.firstError})` : '');
    if (unit) note = note ? `${unit}; ${note}` : unit;
    return {
      cells: [
        workload,
        client,
        fmtNum(cell.opsPerSec, 0),
        fmtMs(cell.p50Ms),
        fmtMs(cell.p99Ms),
        fmtNum(cell.cpuMsPer1kOps, 2),
        fmtNum(cell.rssMB, 0),
        ratio == null ? '-' : `${ratio.toFixed(2)}x`,
      ],
      note,
    };
  });

  const widths = HEADERS.map((h) => h.length);
  for (const { cells, note } of lines) {
    if (note && cells.length === 2) continue; // failure rows span the numeric columns
    cells.forEach((c, i) => (widths[i] = Math.max(widths[i], c.length)));
  }
  for (const { cells } of lines) {
    widths[0] = Math.max(widths[0], cells[0].length);
    widths[1] = Math.max(widths[1], cells[1].length);
  }

  const fmtRow = (cells) => cells.map((c, i) => (RIGHT[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ');
  const out = [fmtRow(HEADERS), widths.map((w) => '-'.repeat(w)).join('-+-')];
  let prev = null;
  for (const { cells, note } of lines) {
    const shown = [cells[0] === prev ? '' : cells[0], ...cells.slice(1)];
    prev = cells[0];
    if (cells.length === 2) {
      out.push(`${shown[0].padEnd(widths[0])} | ${shown[1].padEnd(widths[1])} | ${note}`);
    } else {
      out.push(fmtRow(shown) + (note ? `   (${note})` : ''));
    }
  }
  return out.join('\n');
}

export function writeJson(path, data) {
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n');
}

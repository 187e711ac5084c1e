/**
 * A small dependency-free SVG chart: horizontal grouped bars, one group per row, one bar per
 * series, each bar labelled with its value. Linear or log scale. Renders as a plain image on
 * GitHub (no scripts, no external fonts).
 */
export interface BarSeries {
  readonly name: string;
  readonly color: string;
  /** One value per category; undefined draws no bar (row failed or not measured). */
  readonly values: readonly (number | undefined)[];
}

export interface BarChart {
  readonly title: string;
  readonly subtitle?: string;
  /** Axis caption, e.g. "calls per second (log scale)". */
  readonly axis: string;
  readonly categories: readonly string[];
  /** Categories drawn in grey italics (the Python peers, beside our rows). */
  readonly secondary?: readonly boolean[];
  readonly series: readonly BarSeries[];
  readonly log?: boolean;
  /** Formats a value for the bar labels and ticks. */
  readonly format?: (v: number) => string;
}

const FONT = 'font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"';

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 1234 -> "1.23k", 0.5 -> "0.5": three significant digits, SI suffix. */
export function compact(v: number): string {
  const abs = Math.abs(v);
  const fmt = (x: number, suffix: string) => `${Number(x.toPrecision(3))}${suffix}`;
  if (abs >= 1e9) return fmt(v / 1e9, 'G');
  if (abs >= 1e6) return fmt(v / 1e6, 'M');
  if (abs >= 1e3) return fmt(v / 1e3, 'k');
  if (abs >= 100) return String(Math.round(v));
  return fmt(v, '');
}

interface Scale {
  at(v: number): number;
  ticks: number[];
}

function linearScale(max: number, width: number): Scale {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const top = Math.max(step, Math.ceil(max / step) * step);
  const ticks: number[] = [];
  for (let t = 0; t <= top + step / 2; t += step) ticks.push(t);
  return { at: (v) => (Math.max(0, v) / top) * width, ticks };
}

function logScale(min: number, max: number, width: number): Scale {
  const lo = Math.floor(Math.log10(Math.max(min, 1e-9)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
  return {
    at: (v) => ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * width,
    ticks,
  };
}

export function barChart(chart: BarChart): string {
  const format = chart.format ?? compact;
  // Roughly 6.8 px per character at 12 px: wide enough for the longest row name.
  const labelWidth = Math.max(120, Math.ceil(Math.max(...chart.categories.map((c) => c.length)) * 6.8) + 18);
  const plotWidth = 560;
  const valueRoom = 70;
  const barH = 11;
  const barGap = 2;
  const groupGap = 10;
  const top = chart.subtitle ? 78 : 62;
  const groupH = chart.series.length * (barH + barGap) - barGap;
  const height = top + chart.categories.length * (groupH + groupGap) + 44;
  const width = labelWidth + plotWidth + valueRoom + 20;
  const values = chart.series.flatMap((s) => s.values).filter((v): v is number => v !== undefined && v > 0);
  const max = values.length > 0 ? Math.max(...values) : 1;
  const min = values.length > 0 ? Math.min(...values) : 1;
  const scale = chart.log ? logScale(min, max, plotWidth) : linearScale(max, plotWidth);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="600" fill="#1f2328">${escapeXml(chart.title)}</text>`,
  );
  if (chart.subtitle) {
    out.push(`<text x="12" y="40" fill="#59636e">${escapeXml(chart.subtitle)}</text>`);
  }
  // Legend
  let lx = labelWidth;
  const ly = top - 22;
  for (const s of chart.series) {
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 14}" y="${ly}" fill="#1f2328">${escapeXml(s.name)}</text>`);
    lx += 24 + s.name.length * 6.6;
  }
  const plotBottom = height - 44;
  for (const t of scale.ticks) {
    const x = labelWidth + scale.at(t);
    out.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${plotBottom}" stroke="#d1d9e0"/>`,
    );
    out.push(
      `<text x="${x.toFixed(1)}" y="${plotBottom + 16}" text-anchor="middle" fill="#59636e">${escapeXml(format(t))}</text>`,
    );
  }
  out.push(
    `<text x="${labelWidth + plotWidth / 2}" y="${plotBottom + 34}" text-anchor="middle" fill="#1f2328">${escapeXml(chart.axis)}</text>`,
  );
  chart.categories.forEach((category, ci) => {
    const gy = top + ci * (groupH + groupGap);
    const style = chart.secondary?.[ci] ? 'fill="#59636e" font-style="italic"' : 'fill="#1f2328"';
    out.push(
      `<text x="${labelWidth - 8}" y="${(gy + groupH / 2 + 4).toFixed(1)}" text-anchor="end" ${style}>${escapeXml(category)}</text>`,
    );
    chart.series.forEach((s, si) => {
      const v = s.values[ci];
      const y = gy + si * (barH + barGap);
      if (v === undefined || !Number.isFinite(v)) {
        out.push(`<text x="${labelWidth + 4}" y="${y + barH - 2}" fill="#9198a1" font-size="10">n/a</text>`);
        return;
      }
      const w = Math.max(1, scale.at(v));
      out.push(
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${s.color}"><title>${escapeXml(`${category} ${s.name}: ${format(v)}`)}</title></rect>`,
      );
      out.push(
        `<text x="${(labelWidth + w + 4).toFixed(1)}" y="${y + barH - 2}" fill="#1f2328" font-size="10">${escapeXml(format(v))}</text>`,
      );
    });
  });
  out.push(
    `<line x1="${labelWidth}" y1="${top - 6}" x2="${labelWidth}" y2="${plotBottom}" stroke="#59636e"/>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * Small hand-drawn SVG charts. Each is an image with a text alternative; the numbers are also
 * in the tables beside them, which is what a screen reader should read.
 */

export function LineChart(props: { points: Array<[number, number]>; label: string; unit: string }) {
  const w = 600, h = 160, pad = 32;
  const pts = props.points;
  const maxY = Math.max(1, ...pts.map((p) => p[1]));
  const minX = pts.length ? pts[0][0] : 0;
  const maxX = pts.length ? Math.max(minX + 1, pts[pts.length - 1][0]) : 1;
  const x = (t: number) => pad + ((t - minX) / (maxX - minX)) * (w - pad - 8);
  const y = (v: number) => h - 20 - (v / maxY) * (h - 36);
  const path = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
  const last = pts.length ? pts[pts.length - 1][1] : 0;
  return (
    <svg class="chart" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${props.label}: now ${fmt(last)} ${props.unit}, peak ${fmt(maxY)} ${props.unit}`}>
      <line x1={pad} y1={h - 20} x2={w - 8} y2={h - 20} class="axis" />
      <line x1={pad} y1={16} x2={w - 8} y2={16} class="grid" />
      <text x={pad - 4} y={20} class="tick" text-anchor="end">{fmt(maxY)}</text>
      <text x={pad - 4} y={h - 20} class="tick" text-anchor="end">0</text>
      <text x={w - 8} y={h - 4} class="tick" text-anchor="end">now</text>
      {pts.length > 1 ? <path d={path} class="line" /> : null}
      {pts.length ? <circle cx={x(pts[pts.length - 1][0])} cy={y(last)} r={3} class="point" /> : null}
    </svg>
  );
}

export interface Bar {
  label: string;
  parts: Array<{ value: number; cls: string; name: string }>;
}

/** Horizontal bars, each split into parts (stacked). */
export function BarChart(props: { bars: Bar[]; label: string; unit?: string }) {
  const rowH = 26, w = 600;
  // Room for the longest label (about 7.5 px a character at the tick size), within reason.
  const labelW = Math.min(160, 16 + 7.5 * Math.max(3, ...props.bars.map((b) => Math.min(20, b.label.length))));
  const max = Math.max(1, ...props.bars.map((b) => b.parts.reduce((a, p) => a + p.value, 0)));
  const h = Math.max(1, props.bars.length) * rowH + 8;
  const summary = props.bars.map((b) => `${b.label}: ${b.parts.map((p) => `${p.name} ${fmt(p.value)}${props.unit ?? ''}`).join(', ')}`).join('; ');
  return (
    <svg class="chart" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${props.label}. ${summary || 'no data'}`}>
      {props.bars.map((b, i) => {
        let at = labelW;
        const yy = 4 + i * rowH;
        const total = b.parts.reduce((a, p) => a + p.value, 0);
        return (
          <g>
            <text x={labelW - 6} y={yy + 16} class="tick" text-anchor="end">{b.label.length > 20 ? b.label.slice(0, 19) + '…' : b.label}</text>
            {b.parts.map((p) => {
              const width = (p.value / max) * (w - labelW - 70);
              const r = <rect x={at} y={yy + 3} width={Math.max(0, width)} height={rowH - 8} class={p.cls}><title>{`${p.name}: ${fmt(p.value)}${props.unit ?? ''}`}</title></rect>;
              at += width;
              return r;
            })}
            <text x={at + 6} y={yy + 16} class="tick">{fmt(total)}{props.unit ?? ''}</text>
          </g>
        );
      })}
    </svg>
  );
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (n === 0) return '0';
  if (Math.abs(n) >= 100) return String(Math.round(n));
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2).replace(/\.?0+$/, '') || '0';
}

// Plain-text tables for the speed bench (fixed-width columns, a group header).

/** Prints `rows` under `header`, columns padded; `groups` spans titles over columns. */
export function printTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  groups: readonly { readonly title: string; readonly span: number }[] = [],
): void {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const separator = "  ";
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[0] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join(separator)
      .trimEnd();
  if (groups.length > 0) {
    let column = 0;
    const titles: string[] = [];
    for (const group of groups) {
      const spanned = widths.slice(column, column + group.span);
      const width =
        spanned.reduce((sum, value) => sum + value, 0) + separator.length * (spanned.length - 1);
      titles.push(group.title.padEnd(width));
      column += group.span;
    }
    console.log(titles.join(separator).trimEnd());
  }
  console.log(line(header));
  console.log(line(widths.map((width) => "-".repeat(width))));
  for (const row of rows) console.log(line(row));
}

/** `12,345`. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** Milliseconds with about three significant digits. */
export function formatMs(value: number): string {
  if (!Number.isFinite(value)) return "-";
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return value.toFixed(0);
}

/** A ratio as `1.8x` (or `420x`). */
export function formatTimes(value: number): string {
  if (!Number.isFinite(value)) return "-";
  return value < 10 ? `${value.toFixed(1)}x` : `${value.toFixed(0)}x`;
}

/** A ratio as a percentage: `61%` (or `0.12%` below 1%). */
export function formatPercent(value: number): string {
  if (!Number.isFinite(value)) return "-";
  const percent = value * 100;
  return percent < 1 ? `${percent.toFixed(2)}%` : `${percent.toFixed(0)}%`;
}

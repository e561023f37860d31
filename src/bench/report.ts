/** How the benchmarks print: one line at a time to stdout, numbers with thousands separators. */
export function say(line: string): void {
  process.stdout.write(line + '\n');
}

export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
}

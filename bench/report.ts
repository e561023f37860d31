/** How the benchmarks print: one line at a time to stdout, numbers with thousands separators. */
export function say(line: string): void {
  process.stdout.write(line + '\n');
}

export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
}

/**
 * A whole-number option of a benchmark (`--name V`), or `fallback` when absent;
 * anything else stops the benchmark with one line naming the option.
 */
export function wholeNumber(
  command: string,
  name: string,
  value: string | undefined,
  fallback: number,
  min = 1,
): number {
  const x = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(x) || x < min)
    throw new Error(
      `${command}: --${name} ${JSON.stringify(value)} is invalid: expected a whole number >= ${min}`,
    );
  return x;
}

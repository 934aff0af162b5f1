/** Argument parsing shared by the subcommands: node's parseArgs, errors turned into UsageError. */
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

type Spec = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;

export function parse<S extends Spec>(argv: string[], spec: S): Partial<Record<keyof S, string | boolean>> {
  try {
    return parseArgs({ args: argv, options: spec, allowPositionals: false, strict: true }).values as Partial<
      Record<keyof S, string | boolean>
    >;
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}

export function intFlag(
  name: string,
  v: string | boolean | undefined,
  dflt: number,
  min: number,
  max: number,
): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${name} must be from ${min} to ${max}`);
  return n;
}

export function choice<T extends string>(
  name: string,
  v: string | boolean | undefined,
  allowed: readonly T[],
  dflt: T,
): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !allowed.includes(v as T)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}

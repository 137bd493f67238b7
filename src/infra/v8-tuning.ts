import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for a long-running service process, applied by `runProcess` before anything compiles
 * WebAssembly.
 *
 * `--liftoff-only`: Prisma's query compiler is a WebAssembly module, compiled on the first query. By default
 * V8 then re-compiles its hot functions with TurboFan in the background, and the process keeps ~40 MiB of
 * memory from that (measured: a bare Prisma client after its first queries holds 99 MiB RSS with the flag,
 * 140–149 MiB without; the built server is ~45 MiB smaller at ready). The compiler's plans are cached per
 * query shape, so the WebAssembly runs rarely once warm, and Liftoff's baseline code costs no measurable CPU
 * per query (docs/operations.md, "Memory"). The flag only bounds which WebAssembly compiler V8 uses: it
 * changes no result.
 */
export function tuneV8ForService(): void {
  setFlagsFromString('--liftoff-only');
}

// Seeded randomness for the property tests: a seed from FFI_EVENTS_SEED
// (to replay a failure) or a new one per run, and a small generator.

import { randomInt } from 'node:crypto'

/** FFI_EVENTS_SEED replays a seed; otherwise each run of a file picks one. */
export function seedFromEnv(): number {
  const text = process.env.FFI_EVENTS_SEED
  if (text === undefined || text.trim() === '') return randomInt(2 ** 32)
  const seed = Number(text)
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new Error(`FFI_EVENTS_SEED must be an integer in [0, 2^32), got ${JSON.stringify(text)}`)
  }
  return seed
}

/** mulberry32: a fast seeded generator, good enough to pick test inputs. */
export class Random {
  #state: number

  constructor(seed: number) {
    this.#state = seed >>> 0
  }

  /** A number in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]
  }

  bytes(n: number): number[] {
    return Array.from({ length: n }, () => this.int(0, 255))
  }
}

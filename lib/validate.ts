// Argument checks in Node's style: the error names the argument and says
// what was received, and carries Node's error code.

/** The longest event name, in bytes of UTF-8. */
export const MAX_NAME_BYTES = 255

type Code = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE'

function withCode<E extends Error>(error: E, code: Code): E & { code: Code } {
  return Object.assign(error, { code })
}

/** How Node describes a received value in argument errors. */
export function describe(value: unknown): string {
  if (value === null) return 'Received null'
  if (value === undefined) return 'Received undefined'
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const ctor = (value as object).constructor
    return ctor?.name ? `Received an instance of ${ctor.name}` : 'Received an object'
  }
  let shown = typeof value === 'bigint' ? `${value}n` : String(value)
  if (typeof value === 'string') shown = `'${shown.length > 28 ? shown.slice(0, 25) + '...' : shown}'`
  return `Received type ${typeof value} (${shown})`
}

export function invalidType(arg: string, expected: string, value: unknown): TypeError {
  return withCode(new TypeError(`The "${arg}" argument must be ${expected}. ${describe(value)}`), 'ERR_INVALID_ARG_TYPE')
}

export function invalidValue(arg: string, reason: string, value: unknown, cause?: unknown): TypeError {
  const error = new TypeError(`The "${arg}" argument ${reason}. ${describe(value)}`, cause === undefined ? undefined : { cause })
  return withCode(error, 'ERR_INVALID_ARG_VALUE')
}

export function outOfRange(arg: string, range: string, received: string): RangeError {
  return withCode(new RangeError(`The value of "${arg}" is out of range. It must be ${range}. Received ${received}`), 'ERR_OUT_OF_RANGE')
}

/** Checks an event name: a well-formed string of 1 to 255 UTF-8 bytes without NUL. */
export function validateName(value: unknown, arg = 'name'): asserts value is string {
  if (typeof value !== 'string') throw invalidType(arg, 'of type string', value)
  if (value.length === 0) throw invalidValue(arg, 'must not be empty', value)
  if (value.includes('\0')) throw invalidValue(arg, 'must not contain NUL characters', value)
  if (!value.isWellFormed()) throw invalidValue(arg, 'must be well-formed Unicode (no lone surrogates)', value)
  const bytes = Buffer.byteLength(value, 'utf8')
  if (bytes > MAX_NAME_BYTES) throw outOfRange(`${arg}.length`, `at most ${MAX_NAME_BYTES} bytes of UTF-8`, `${bytes} bytes`)
}

export function validateFunction(value: unknown, arg: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidType(arg, 'of type function', value)
}

export function validateBytes(value: unknown, arg: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidType(arg, 'an instance of Uint8Array or Buffer', value)
}

export function validateObject(value: unknown, arg: string): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidType(arg, 'of type object', value)
}

/** Checks an optional integer option within [min, max]. */
export function validateInteger(value: unknown, arg: string, min: number, max: number): asserts value is number | undefined {
  if (value === undefined) return
  if (typeof value !== 'number') throw invalidType(arg, 'of type number', value)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(arg, `an integer >= ${min} and <= ${max}`, String(value))
  }
}

/** Checks an optional finite number within [min, max]. */
export function validateNumber(value: unknown, arg: string, min: number, max: number): asserts value is number | undefined {
  if (value === undefined) return
  if (typeof value !== 'number') throw invalidType(arg, 'of type number', value)
  if (!Number.isFinite(value) || value < min || value > max) {
    throw outOfRange(arg, `a finite number >= ${min} and <= ${max}`, String(value))
  }
}

export function validateOneOf<T extends string>(value: unknown, arg: string, allowed: readonly T[]): asserts value is T | undefined {
  if (value === undefined) return
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidValue(arg, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value)
  }
}

export function validateBoolean(value: unknown, arg: string): asserts value is boolean | undefined {
  if (value === undefined) return
  if (typeof value !== 'boolean') throw invalidType(arg, 'of type boolean', value)
}

export function validateSignal(value: unknown, arg: string): asserts value is AbortSignal | undefined {
  if (value === undefined) return
  if (!(value instanceof AbortSignal)) throw invalidType(arg, 'an instance of AbortSignal', value)
}

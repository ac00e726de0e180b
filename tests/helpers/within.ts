/**
 * `promise`, or an error after `ms` that says what was going on (`state()`): a hang inside a
 * test then fails with the state that explains it, before vitest's own timeout says only that
 * time ran out.
 */
export function within<T>(promise: Promise<T>, ms: number, state: () => unknown): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      let seen: string
      try {
        seen = JSON.stringify(state(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))
      } catch (err) {
        seen = `(state unreadable: ${String(err)})`
      }
      reject(new Error(`Not done within ${ms} ms. State: ${seen}`))
    }, ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

import { afterEach, describe, expect, it, vi } from 'vitest'
import { createLogger, jsonSink, setLogSink } from './log'

describe('structured logs', () => {
  afterEach(() => vi.restoreAllMocks())

  it('the JSON sink writes one parseable object per line, fields and bigints included', () => {
    const lines: string[] = []
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk))
      return true
    })
    setLogSink(jsonSink)
    createLogger('relay').warn('peer sent\ngarbage', { peer: 'abc', bytes: 10n ** 20n })
    expect(lines).toHaveLength(1)
    expect(lines[0]!.endsWith('\n')).toBe(true)
    expect(lines[0]!.trimEnd().includes('\n')).toBe(false)
    const record = JSON.parse(lines[0]!)
    expect(record).toMatchObject({
      level: 'warn',
      scope: 'relay',
      msg: 'peer sent\ngarbage',
      peer: 'abc',
      bytes: '100000000000000000000',
    })
    expect(Number.isNaN(Date.parse(record.time))).toBe(false)
  })
})

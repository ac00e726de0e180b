import { describe, expect, it } from 'vitest'
import { WEBGPU_UNPAID_DEMOTE, webgpuUnpaid } from './worker'

// A coordinator never says that a WebGPU answer was wrong (that would tell which task was a
// check); it stops counting that path. The worker reads it from its claim.
describe('webgpuUnpaid', () => {
  it('switches once enough decided results went unpaid and few were paid', () => {
    expect(webgpuUnpaid({ decided: WEBGPU_UNPAID_DEMOTE, results: 0 })).toBe(true)
    expect(webgpuUnpaid({ decided: 9, results: 3 })).toBe(true)
  })

  it('keeps a WebGPU path whose results are mostly paid, or too few to tell', () => {
    expect(webgpuUnpaid({ decided: WEBGPU_UNPAID_DEMOTE - 1, results: 0 })).toBe(false)
    expect(webgpuUnpaid({ decided: 10, results: 4 })).toBe(false)
    expect(webgpuUnpaid({ decided: 40, results: 36 })).toBe(false)
  })
})
